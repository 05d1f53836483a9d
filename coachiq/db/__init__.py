"""The database: schema, migrations and the database manager core service."""
