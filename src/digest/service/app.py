"""What every use case needs: settings, the database, and the clock."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from digest.config import Settings
from digest.store import db


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    settings: Settings
    engine: Engine
    now: Callable[[], datetime] = utc_now
    _sessions: sessionmaker[Session] = field(init=False)
    _schema_checked: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

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

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection on which each statement commits on its own: one round trip for a write
        that is a single statement (a delivery's outcome, a thousand times a second)."""
        if not self._schema_checked:
            db.require_current(self.engine)
            self._schema_checked = True
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()
