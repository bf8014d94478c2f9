"""Persistence: ORM models, engines and sessions, migrations, embedded PostgreSQL, importers."""
