"""Moving a hub's database to another engine (SQLite -> PostgreSQL or MySQL/MariaDB), the
JupyterHub version kept: checks, the schema made by the hub's own release, the copy, and
the environment variable through which the hub's config takes its new URL."""
