"""The store: the only code that names the SQL files of sql/<resource>/ and shapes
their arguments. Callers pass keyword arguments and get records back; the order
of `$n` lives in each file's header (db/registry.py).

Every function takes `db`: a Database, or a Session inside a transaction. An
`owner_id` argument is the caller's scope: their user id, or None for an admin
(who sees every row).
"""
