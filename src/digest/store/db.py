"""Engine, sessions and schema migrations."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, CursorResult, Engine, Executable, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from digest.errors import StoreError
from digest.resources import resource_path

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode, NORMAL stays consistent through any crash and loses at most the last
    # commits on a power cut (a few messages then count as unsent and go again); FULL would
    # add a disk flush to every message's ledger commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`; a SQLite file gets its folder created and safe pragmas set."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def make_autocommit_engine(engine: Engine) -> Engine:
    """An engine beside `engine` on which each statement commits on its own, for the writes
    made once per message: one round trip, where a session costs three (BEGIN, the statement,
    COMMIT) and a pre-ping a fourth. Without pre-ping, a connection the server dropped fails
    once and is replaced (see `App.autocommit`). It has a pool of its own: sharing `engine`'s
    would switch each connection's isolation level at every checkout and back at every
    checkin (a PRAGMA each time on SQLite, half the cost of the write itself)."""
    url = engine.url
    if engine.dialect.name != "sqlite":
        return create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=False)
    if url.database in (None, "", ":memory:"):  # one database per pool: share it
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    autocommit = create_engine(url, isolation_level="AUTOCOMMIT")
    event.listen(autocommit, "connect", _sqlite_pragmas)
    return autocommit


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration bound to `engine`, working from any directory."""
    config = Config()
    config.set_main_option("script_location", str(resource_path("alembic")))
    config.attributes["engine"] = engine
    return config


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise StoreError(f"cannot open database {engine.url!r}: {exc.orig}") from None


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply pending migrations; returns the revisions before and after."""
    before = current_revision(engine)
    try:
        command.upgrade(alembic_config(engine), revision)
    except SQLAlchemyError as exc:
        raise StoreError(f"migration failed on {engine.url!r}: {exc}") from None
    return before, current_revision(engine)


def require_current(engine: Engine) -> None:
    """Refuse to work on a database whose schema is not the one this code expects."""
    current, head = current_revision(engine), head_revision(engine)
    if current != head:
        state = "empty" if current is None else f"at revision {current}"
        raise StoreError(
            f"database {engine.url!r} is {state}, this version needs {head}: "
            "run 'digest db upgrade'"
        )


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits at the end of the block, or rolls back on any error."""
    with factory() as session, session.begin():
        yield session


def changed(
    db: Session | Connection, statement: Executable, params: Mapping[str, Any] | None = None
) -> int:
    """Run an INSERT, UPDATE or DELETE: how many rows it changed."""
    result = cast(CursorResult[Any], db.execute(statement, params))
    return result.rowcount or 0
