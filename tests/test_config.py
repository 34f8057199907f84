"""Configuration: where it comes from, how the environment overrides it, and how errors read."""

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from digest.cli import cli
from digest.config import Settings, load_settings
from digest.errors import ConfigError

EXAMPLE = Path(__file__).parents[1] / "config.example.toml"


def _documented_keys(model: type[BaseModel], data: dict, prefix: str = "") -> list[str]:
    """Every field of `model` missing from `data` (the parsed example file), as dotted keys.
    A key that is only present as a comment ('# key = ...') counts as documented."""
    text = EXAMPLE.read_text("utf-8")
    missing = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = info.annotation
        nested = getattr(annotation, "__args__", (annotation,))
        sub = next((t for t in nested if isinstance(t, type) and issubclass(t, BaseModel)), None)
        value = data.get(name) if isinstance(data, dict) else None
        if sub is not None and isinstance(value, list):
            for item in value:
                missing += _documented_keys(sub, item, f"{key}[].")
        elif sub is not None:
            missing += _documented_keys(sub, value or {}, f"{key}.")
        elif name not in data and f"# {name} = " not in text:
            missing.append(key)
    return missing


def test_every_setting_is_documented_in_the_example_file() -> None:
    data = tomllib.loads(EXAMPLE.read_text("utf-8"))
    assert _documented_keys(Settings, data) == []


def test_example_file_matches_the_built_in_defaults() -> None:
    assert load_settings(EXAMPLE) == load_settings()


def test_default_sections_come_from_the_example_file() -> None:
    settings = load_settings()
    assert [(s.key, s.title) for s in settings.sections] == [
        ("ukraine", "Ukraine"),
        ("congress", "Congress"),
        ("middle_east", "Middle East"),
    ]


def test_lookup_order_flag_then_env_then_local_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.toml").write_text('[edition]\nname = "local"\n')
    env_file = tmp_path / "env.toml"
    env_file.write_text('[edition]\nname = "fromenv"\n')
    flag_file = tmp_path / "flag.toml"
    flag_file.write_text('[edition]\nname = "fromflag"\n')

    assert load_settings().edition.name == "local"
    monkeypatch.setenv("DIGEST_CONFIG", str(env_file))
    assert load_settings().edition.name == "fromenv"
    assert load_settings(flag_file).edition.name == "fromflag"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[smtp]\nhost = "file.example"\nport = 2525\n')
    monkeypatch.setenv("DIGEST_SMTP__HOST", "env.example")
    monkeypatch.setenv("DIGEST_SMTP__PASSWORD", "s3cret")
    monkeypatch.setenv("DIGEST_DATABASE__URL", "postgresql+psycopg://u@db/x")
    settings = load_settings(path)
    assert settings.smtp.host == "env.example"
    assert settings.smtp.port == 2525
    assert settings.smtp.password.get_secret_value() == "s3cret"
    assert settings.database.url == "postgresql+psycopg://u@db/x"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[smtp]\nprot = 25\n", "unknown key 'smtp.prot'"),
        ('[smtp]\nport = "twenty-five"\n', "smtp.port: expected a valid integer"),
        ('[edition]\ntimezone = "Mars/Olympus"\n', "edition.timezone: expected an IANA timezone"),
        ('[database]\nurl = "not a url"\n', "database.url: expected a SQLAlchemy URL"),
        ("[database]\nkeep_days = -1\n", "database.keep_days: expected greater than or equal"),
        (
            '[[editions]]\nname = "w"\ncron = "0 7 * * mon"\nwindow_hours = 0\n',
            "editions.0.window_hours: expected greater than 0",
        ),
        ('[web]\nbase_url = "ftp://x"\n', "web.base_url: expected an http(s) URL"),
        ('[delivery]\ntransport = "pigeon"\n', "delivery.transport: expected 'maildir' or 'smtp'"),
        ('[[sections]]\nkey = "x"\ntitle = "X"\n', "sections.0.terms: required key is missing"),
        (
            '[[sections]]\nkey = "x"\ntitle = "X"\nmin_score = 20\n[sections.terms]\n"a" = 1\n',
            "sections.0: expected a term heavy enough to place an article on its own",
        ),
        ("[smtp\nport = 25\n", "not valid TOML"),
        (
            '[clustering]\nroundups = ["briefing", " | "]\n',
            "clustering.roundups: expected a term with at least one word",
        ),
        (
            '[clustering]\napart_paths = ["opinion", "news/features"]\n',
            "clustering.apart_paths: expected one segment of a URL path such as 'opinion', "
            "not 'news/features'",
        ),
        ('[edition]\nsubject = "{{ nope }}"\n', "edition.subject: expected a Jinja pattern"),
        ('[celery]\nbroker_url = "http://x"\n', "celery.broker_url: expected a redis://"),
        (
            '[delivery]\nengine = "celery"\nlease_seconds = 7200\n',
            "celery.visibility_timeout: must be longer than delivery.lease_seconds (7200)",
        ),
        (
            '[delivery]\nengine = "celery"\nrate_per_second = 10\n'
            '[celery]\nbroker_url = "amqp://guest:guest@localhost//"\n',
            "celery.redis_url: a Redis URL is needed",
        ),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    result = CliRunner().invoke(cli, ["--config", str(path), "db", "current"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0]
    assert expected in lines[0]


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SMTP__PORT", "lots")
    with pytest.raises(ConfigError, match=r"environment variable DIGEST_SMTP__PORT: smtp\.port"):
        load_settings()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "DIGEST_EDITION",
            "weekly",
            "environment variable DIGEST_EDITION: edition: expected one of the table's keys, "
            "as DIGEST_EDITION__<KEY>, got 'weekly'",
        ),
        (
            "DIGEST_SMTP",
            "{not json",
            "environment variable DIGEST_SMTP: smtp: expected one of the table's keys, "
            "as DIGEST_SMTP__<KEY>, got '{not json'",
        ),
        (
            "DIGEST_EDITIONS",
            "weekly",
            "environment variable DIGEST_EDITIONS: editions: expected a JSON array, got 'weekly'",
        ),
    ],
)
def test_a_variable_naming_a_whole_table_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == expected
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {expected}"]


def test_a_whole_table_given_as_json_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SMTP", '{"host": "mail.example", "port": 2525}')
    settings = load_settings()
    assert (settings.smtp.host, settings.smtp.port) == ("mail.example", 2525)


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read config file"):
        load_settings(tmp_path / "nope.toml")


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.edition = settings.edition  # type: ignore[misc]
