"""Alembic environment: runs against the engine that `digest.store.db` hands over."""

from alembic import context

from digest.config import load_settings
from digest.store.db import make_engine
from digest.store.tables import Base, UtcDateTime

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    # Migrations must not import application types: UtcDateTime is stored as a plain
    # timezone-aware DateTime.
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters tables by copying them; batch mode makes the same migrations work there.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # `digest db upgrade` hands its engine over; the alembic command line uses the settings.
    engine = config.attributes.get("engine") or make_engine(load_settings().database.url)
    with engine.begin() as connection:
        _run(connection)


run_migrations_online()
