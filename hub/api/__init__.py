"""HTTP delivery: the native REST API, the CKAN Action API and health."""
