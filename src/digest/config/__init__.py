"""Settings: one TOML file plus `DIGEST_<TABLE>__<KEY>` environment overrides, validated once.

Where the file comes from: `--config PATH`, else `$DIGEST_CONFIG`, else `./config.toml` if it
exists, else built-in defaults that run the demo (SQLite and a Maildir outbox under `var/`).
"""

import json
import os
import tomllib
from pathlib import Path
from typing import Any, get_origin

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from digest.config.tables import (
    DEFAULT_FILE,
    ENV_PREFIX,
    CelerySettings,
    ClassificationSettings,
    ClusteringSettings,
    DatabaseSettings,
    DeliverySettings,
    DkimSettings,
    EditionSettings,
    FeedSettings,
    IngestSettings,
    RankingSettings,
    ScheduledEdition,
    ScheduleSettings,
    SectionSettings,
    SenderSettings,
    SmtpSettings,
    TemplateSettings,
    WebSettings,
    _example,
    subject_environment,
)
from digest.core.building import EditorialRules
from digest.core.clustering import ClusterRules
from digest.core.ranking import RankingRules
from digest.core.sections import SectionRule
from digest.errors import ConfigError

# What the rest of the program uses from here.
__all__ = [
    "CelerySettings",
    "DeliverySettings",
    "IngestSettings",
    "Settings",
    "SmtpSettings",
    "WebSettings",
    "config_path",
    "load_settings",
    "subject_environment",
]


def _default_sections() -> list[SectionSettings]:
    return [SectionSettings(**section) for section in _example()["sections"]]


class Settings(BaseSettings):
    """Every setting of the program; frozen once loaded."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    database: DatabaseSettings = DatabaseSettings()
    edition: EditionSettings = EditionSettings()
    sender: SenderSettings = SenderSettings()
    dkim: DkimSettings = DkimSettings()
    delivery: DeliverySettings = DeliverySettings()
    celery: CelerySettings = CelerySettings()
    schedule: ScheduleSettings = ScheduleSettings()
    feeds: FeedSettings = FeedSettings()
    smtp: SmtpSettings = SmtpSettings()
    web: WebSettings = WebSettings()
    ingest: IngestSettings = IngestSettings()
    templates: TemplateSettings = TemplateSettings()
    classification: ClassificationSettings = ClassificationSettings()
    clustering: ClusteringSettings = ClusteringSettings()
    ranking: RankingSettings = RankingSettings()
    sections: list[SectionSettings] = Field(default_factory=_default_sections, min_length=1)
    editions: list[ScheduledEdition] = []

    @model_validator(mode="after")
    def _unique_section_keys(self) -> "Settings":
        keys = [s.key for s in self.sections]
        if len(keys) != len(set(keys)):
            raise ValueError("section keys must be unique")
        names = [e.name for e in self.editions]
        if len(names) != len(set(names)):
            raise ValueError("edition names must be unique")
        if self.delivery.engine == "celery":
            self._check_celery()
        for edition in self.editions:
            unknown = sorted(set(edition.sections or ()) - set(keys))
            if unknown:
                raise ValueError(f"edition {edition.name}: unknown section(s) {', '.join(unknown)}")
        return self

    def _check_celery(self) -> None:
        celery, delivery = self.celery, self.delivery
        if celery.visibility_timeout <= delivery.lease_seconds:
            raise ValueError(
                f"celery.visibility_timeout: must be longer than delivery.lease_seconds "
                f"({delivery.lease_seconds:g}), or a batch could go to a second worker while "
                "the first still holds it"
            )
        if (delivery.rate_per_second or delivery.rate_per_hour) and not celery.rate_limit_url:
            raise ValueError(
                "celery.redis_url: a Redis URL is needed for a rate limit shared by the "
                "workers (the broker is not Redis)"
            )

    def edition_names(self) -> list[str]:
        return [e.name for e in self.editions] or [self.edition.name]

    def for_edition(self, name: str | None) -> "Settings":
        """These settings as one edition sees them: its name, time, timezone, window, title,
        sections and feeds in place of the shared ones. `None`: the first edition (or the only
        one)."""
        if not self.editions:
            if name not in (None, self.edition.name):
                raise ConfigError(f"no edition {name!r}; configured: {self.edition.name}")
            return self
        chosen = next((e for e in self.editions if name in (None, e.name)), None)
        if chosen is None:
            raise ConfigError(f"no edition {name!r}; configured: {', '.join(self.edition_names())}")
        edition = self.edition.model_copy(
            update={
                "name": chosen.name,
                "send_time": chosen.send_time,
                "timezone": chosen.timezone or self.edition.timezone,
                "window_hours": chosen.window_hours or self.edition.window_hours,
                "title": chosen.title or self.edition.title,
            }
        )
        sections = [s for s in self.sections if chosen.sections is None or s.key in chosen.sections]
        feeds = self.feeds.model_copy(
            update={"sources": chosen.feeds if chosen.feeds is not None else self.feeds.sources}
        )
        return self.model_copy(update={"edition": edition, "sections": sections, "feeds": feeds})

    def cron_for(self, name: str) -> str:
        """The crontab line of an edition (a daily one at send_time without `[[editions]]`)."""
        chosen = next((e for e in self.editions if e.name == name), None)
        if chosen is not None:
            return chosen.cron
        return f"{self.edition.send_time.minute} {self.edition.send_time.hour} * * *"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment overrides them.
        return env_settings, init_settings

    def section_rules(self) -> list[SectionRule]:
        return [s.rule() for s in self.sections]

    def editorial_rules(self) -> EditorialRules:
        return EditorialRules(
            sections=tuple(self.section_rules()),
            off_topic=tuple(self.classification.off_topic),
            clustering=ClusterRules(
                similarity=self.clustering.similarity,
                title_similarity=self.clustering.title_similarity,
                semantic_similarity=self.clustering.semantic_similarity,
                cohesion=self.clustering.cohesion,
                lead_similarity=self.clustering.lead_similarity,
                max_hours_apart=self.clustering.max_hours_apart,
                roundups=tuple(self.clustering.roundups),
                apart_paths=tuple(self.clustering.apart_paths),
            ),
            ranking=RankingRules(
                relevance_weight=self.ranking.relevance_weight,
                recency_weight=self.ranking.recency_weight,
                coverage_weight=self.ranking.coverage_weight,
                source_weights=dict(self.ranking.sources),
            ),
            prefer=tuple(self.clustering.prefer),
            max_items_per_section=self.edition.max_items_per_section,
            summary_chars=self.edition.summary_chars,
        )


def config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """Which file to read, following the documented order; None means built-in defaults."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get(f"{ENV_PREFIX}CONFIG"):
        return Path(env)
    return DEFAULT_FILE if DEFAULT_FILE.is_file() else None


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the settings, or raise a one-line `ConfigError` naming file and key."""
    path = config_path(explicit)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: config file is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    except SettingsError as exc:
        raise ConfigError(_describe_unread(exc)) from None


def _describe_unread(exc: SettingsError) -> str:
    """A variable the environment source could not read at all: one that names a whole table
    (`DIGEST_EDITION=weekly`, for `DIGEST_EDITION__<KEY>`), which it can only take as JSON."""
    for variable, value in os.environ.items():
        name = variable.lower().removeprefix(ENV_PREFIX.lower())
        if not variable.upper().startswith(ENV_PREFIX) or name not in Settings.model_fields:
            continue
        try:
            json.loads(value)
        except ValueError:
            if get_origin(Settings.model_fields[name].annotation) is list:  # [[sections]]
                expected = "a JSON array"
            else:
                expected = f"one of the table's keys, as {ENV_PREFIX}{name.upper()}__<KEY>"
            return f"environment variable {variable}: {name}: expected {expected}, got {value!r}"
    return f"environment: {exc}"


def _describe(exc: ValidationError, path: Path | None) -> str:
    """The first validation error as `origin: key: expected ...`."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    if not loc:  # a rule across tables: its message names the keys
        message = error["msg"].removeprefix("Value error, ")
        return f"{path or 'settings'}: {message}"
    key = ".".join(loc) or "(top level)"
    env_name = ENV_PREFIX + "__".join(loc[:2]).upper()
    if env_name in os.environ:
        origin = f"environment variable {env_name}"
    else:
        origin = str(path) if path else "built-in defaults"
    if error["type"] == "extra_forbidden":
        return f"{origin}: unknown key '{key}'"
    if error["type"] == "missing":
        return f"{origin}: {key}: required key is missing"
    expected = error["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
    expected = expected.split(", unable to")[0]
    if error["type"].startswith("url_"):
        expected = f"an http(s) URL ({expected})"
    return f"{origin}: {key}: expected {expected}, got {error.get('input')!r}"
