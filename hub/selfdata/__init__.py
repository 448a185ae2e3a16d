"""Self data: citizens linked to their rows, their consents to services, and what they may read.

`links` proves a subject's key once through the operator's matching service (`matching`),
rate-limited (`attempts`), and keeps only the pseudonym; `services` registers the applications a
subject may consent to; `consents` and `receipts` record and seal those consents; `scopes` says
which pseudonyms a subject or service may read in a dataset, for `hub.reading` to apply;
`history` finds every read of a subject's rows in the access log.
"""
