"""Database access: the SQL registry, the one module that runs queries, migrations, embedded server."""
