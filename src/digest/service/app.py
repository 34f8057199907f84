"""What every use case needs: settings, the database, and the clock."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from digest.config import Settings
from digest.store import db

T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    settings: Settings
    engine: Engine
    now: Callable[[], datetime] = utc_now
    _sessions: sessionmaker[Session] = field(init=False)
    _autocommit: Engine = field(init=False)
    _schema_checked: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit = db.make_autocommit_engine(self.engine)

    @classmethod
    def open(cls, settings: Settings, now: Callable[[], datetime] = utc_now) -> "App":
        return cls(settings, db.make_engine(settings.database.url), now)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session on a database at the expected schema, committed at the end of the block."""
        if not self._schema_checked:
            db.require_current(self.engine)
            self._schema_checked = True
        with db.transaction(self._sessions) as session:
            yield session

    def autocommit(self, write: Callable[[Connection], T]) -> T:
        """`write` on a connection where each statement commits on its own (one round trip:
        for a write that is one statement, made once per message). A connection the server
        dropped meanwhile fails once and `write` runs again on a new one."""
        if not self._schema_checked:
            db.require_current(self.engine)
            self._schema_checked = True
        for attempt in (1, 2):
            try:
                with self._autocommit.connect() as conn:
                    return write(conn)
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def upgrade_schema(self) -> tuple[str | None, str | None]:
        """Apply pending migrations (creating the database if needed): the revisions before
        and after."""
        return db.upgrade(self.engine)

    def schema_revisions(self) -> tuple[str | None, str | None]:
        """The database's schema revision, and the one this version needs."""
        return db.current_revision(self.engine), db.head_revision(self.engine)

    def close(self) -> None:
        self._autocommit.dispose()
        self.engine.dispose()
