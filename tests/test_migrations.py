"""The schema is made only by Alembic, and the migrations match the models on both backends."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import inspect
from sqlalchemy.exc import StatementError

from digest.cli import cli
from digest.service.app import App
from digest.service.subscribers import subscribe
from digest.store import db
from digest.store.subscribers import add_subscriber, list_subscribers

TABLES = {
    "articles",
    "article_vectors",
    "sources",
    "subscribers",
    "editions",
    "edition_overrides",
    "edition_events",
    "deliveries",
    "sender_lease",
    "alembic_version",
}


def _migrate_and_check(url: str) -> None:
    engine = db.make_engine(url)
    try:
        assert db.current_revision(engine) is None
        before, after = db.upgrade(engine)
        assert (before, after) == (None, db.head_revision(engine))
        assert set(inspect(engine).get_table_names()) == TABLES
        # No difference between the models and what the migrations built.
        command.check(db.alembic_config(engine))
        command.downgrade(db.alembic_config(engine), "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        db.upgrade(engine)
        command.check(db.alembic_config(engine))
    finally:
        engine.dispose()


def test_sqlite_migrates_from_empty_and_matches_models(tmp_path: Path) -> None:
    _migrate_and_check(f"sqlite:///{tmp_path / 'fresh.db'}")


def test_postgresql_migrates_from_empty_and_matches_models(postgres_url: str) -> None:
    _migrate_and_check(postgres_url)


def test_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["articles", "list"])
    assert result.exit_code == 1
    assert "is empty" in result.stderr
    assert "run 'digest db upgrade'" in result.stderr


def test_db_upgrade_creates_the_sqlite_file_and_is_repeatable(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert "upgraded from empty" in first.output
    assert (tmp_path / "var" / "digest.db").is_file()
    second = runner.invoke(cli, ["db", "upgrade"])
    assert "already at revision" in second.output


def test_timestamps_come_back_timezone_aware(app: App) -> None:
    subscribe(app, "tz@example.com")
    with app.transaction() as session:
        (subscriber,) = list_subscribers(session)
        assert subscriber.created_at.tzinfo is not None
        assert subscriber.created_at.utcoffset().total_seconds() == 0
        assert abs((datetime.now(UTC) - subscriber.created_at).total_seconds()) < 60


def test_naive_timestamps_are_refused(app: App) -> None:
    with pytest.raises(StatementError, match="timezone-aware"), app.transaction() as session:
        add_subscriber(session, "naive@example.com", "", None, datetime(2024, 1, 1))
