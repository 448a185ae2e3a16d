"""The CKAN Action API: routes, actions, packages, search, its query language, errors, replies
and the OpenAPI documents of the actions."""
