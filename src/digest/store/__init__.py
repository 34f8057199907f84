"""The SQLAlchemy store: tables, the engine, migrations and the queries the services need."""
