"""Settings: one TOML file plus `DIGEST_<TABLE>__<KEY>` environment overrides, validated once.

Where the file comes from: `--config PATH`, else `$DIGEST_CONFIG`, else `./config.toml` if it
exists, else built-in defaults that run the demo (SQLite and a Maildir outbox under `var/`).
"""

import os
import tomllib
from datetime import date, time
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    NameEmail,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from digest.core.clustering import ClusterRules
from digest.core.edition import EditorialRules
from digest.core.ranking import RankingRules
from digest.core.sections import SectionRule, compile_term, off_topic_pattern
from digest.errors import ConfigError
from digest.resources import resource_path

ENV_PREFIX = "DIGEST_"
DEFAULT_FILE = Path("config.toml")


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as 'Europe'
        raise ValueError("an IANA timezone such as 'Europe/Kyiv'") from None
    return name


def _database_url(url: str) -> str:
    try:
        make_url(url)
    except ArgumentError:
        raise ValueError("a SQLAlchemy URL such as 'sqlite:///var/digest.db'") from None
    return url


Timezone = Annotated[str, AfterValidator(_timezone)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Table):
    url: Annotated[str, AfterValidator(_database_url)] = "sqlite:///var/digest.db"


class EditionSettings(_Table):
    name: str = Field("daily", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    timezone: Timezone = "UTC"
    send_time: time = time(7, 0)
    window_hours: float = Field(24.0, gt=0, le=24 * 14)
    subject: str = "{{ title }} · {{ date_long }}"
    title: str = "The Daily Digest"
    max_items_per_section: int = Field(5, ge=1, le=100)
    summary_chars: int = Field(320, ge=80, le=2000)
    html_budget_kb: float = Field(95.0, ge=10, le=1000)
    empty_policy: Literal["skip", "quiet"] = "skip"
    stale_hours: float = Field(36.0, gt=0)

    @field_validator("subject")
    @classmethod
    def _subject_renders(cls, value: str) -> str:
        sample = {
            "title": "T",
            "date": date(2024, 6, 24),
            "date_long": "Monday, June 24, 2024",
            "top_headline": "Headline",
            "story_count": 3,
        }
        try:
            subject_environment().from_string(value).render(sample)
        except jinja2.TemplateError as exc:
            raise ValueError(
                "a Jinja pattern using title, date, date_long, top_headline and story_count "
                f"({exc})"
            ) from None
        return value


def subject_environment() -> jinja2.Environment:
    """Where subject patterns are compiled: plain text, unknown names are errors."""
    return jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


@cache
def _example() -> dict[str, Any]:
    # Editorial defaults (sections, off-topic terms) are content: they live in the example
    # file, not in code.
    return tomllib.loads(resource_path("config.example.toml").read_text("utf-8"))


_CRON_FIELD = r"[0-9A-Za-z*,/-]+"


class ScheduledEdition(_Table):
    """One edition of several (`[[editions]]`); what it leaves out comes from `[edition]`."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    # minute hour day-of-month month day-of-week; once a day at most (one minute, one hour).
    cron: str = Field(pattern=rf"^\d{{1,2}} \d{{1,2}} {_CRON_FIELD} {_CRON_FIELD} {_CRON_FIELD}$")
    timezone: Timezone | None = None
    sections: list[str] | None = None
    feeds: list[str] | None = None

    @property
    def send_time(self) -> time:
        minute, hour = (int(part) for part in self.cron.split()[:2])
        return time(hour, minute)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        minute, hour = value.split()[:2]
        if int(minute) > 59 or int(hour) > 23:
            raise ValueError("minute 0-59 and hour 0-23, once a day")
        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"a crontab line ({exc})") from None
        return value


class FeedSettings(_Table):
    sources: list[str] = []
    refresh_minutes: float = Field(15.0, gt=0)

    @field_validator("sources")
    @classmethod
    def _http_or_path(cls, value: list[str]) -> list[str]:
        for source in value:
            if "://" in source and not source.lower().startswith(("http://", "https://")):
                raise ValueError(f"an http(s) URL or a file path, not {source!r}")
        return value


class ScheduleSettings(_Table):
    grace_minutes: float = Field(30.0, ge=0)
    cutoff_hours: float = Field(6.0, gt=0)
    poll_seconds: float = Field(60.0, gt=0)
    lease_seconds: float = Field(60.0, ge=3)


class ClassificationSettings(_Table):
    off_topic: list[str] = Field(
        default_factory=lambda: list(_example()["classification"]["off_topic"])
    )

    @field_validator("off_topic")
    @classmethod
    def _terms_compile(cls, value: list[str]) -> list[str]:
        off_topic_pattern(value)
        return value


class ClusteringSettings(_Table):
    similarity: float = Field(0.4, gt=0, le=1)
    title_similarity: float = Field(88.0, gt=0, le=100)
    max_hours_apart: float = Field(36.0, gt=0)
    prefer: list[Literal["source_weight", "earliest", "longest"]] = [
        "source_weight",
        "earliest",
        "longest",
    ]


class RankingSettings(_Table):
    relevance_weight: float = Field(1.0, ge=0)
    recency_weight: float = Field(4.0, ge=0)
    coverage_weight: float = Field(3.0, ge=0)
    sources: dict[str, float] = {}


class SenderSettings(_Table):
    from_address: NameEmail = NameEmail("The Daily Digest", "digest@example.com")
    reply_to: NameEmail | None = None
    unsubscribe_mailto: EmailStr | None = "unsubscribe@example.com"
    postal_address: str = "Digest, 1 Example Street, Springfield"


class DkimSettings(_Table):
    enabled: bool = False
    domain: str = ""
    selector: str = Field("digest", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    algorithm: Literal["rsa-sha256", "ed25519-sha256"] = "rsa-sha256"
    key_file: Path | None = None
    private_key: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _has_key(self) -> "DkimSettings":
        if self.enabled and self.key_file is None and not self.private_key.get_secret_value():
            raise ValueError("a key_file or DIGEST_DKIM__PRIVATE_KEY when DKIM is enabled")
        return self


class DeliverySettings(_Table):
    transport: Literal["maildir", "smtp"] = "maildir"
    maildir: Path = Path("var/outbox")
    redirect_to: EmailStr | None = None
    connections: int = Field(1, ge=1, le=64)
    messages_per_connection: int = Field(100, ge=1)
    rate_per_second: float = Field(0.0, ge=0)
    rate_per_hour: int = Field(0, ge=0)
    retry_base_seconds: float = Field(60.0, gt=0)
    retry_max_seconds: float = Field(3600.0, gt=0)
    retry_horizon_hours: float = Field(48.0, gt=0)
    ambiguous_policy: Literal["retry_once", "hold"] = "retry_once"
    lease_seconds: float = Field(300.0, gt=0)
    quarantine_after: int = Field(3, ge=1)
    batch_size: int = Field(200, ge=1, le=10_000)


class SmtpSettings(_Table):
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    password: SecretStr = SecretStr("")
    timeout: float = Field(30.0, gt=0)


class WebSettings(_Table):
    base_url: HttpUrl = HttpUrl("http://127.0.0.1:8000")


class IngestSettings(_Table):
    timeout: float = Field(20.0, gt=0)
    max_bytes: int = Field(10_000_000, ge=1024)
    max_redirects: int = Field(5, ge=0, le=20)
    max_article_chars: int = Field(200_000, ge=1000)
    max_html_depth: int = Field(200, ge=8)
    user_agent: str = "digest/0.1 (+https://example.com/digest)"
    stale_feed_hours: float = Field(72.0, gt=0)


class TemplateSettings(_Table):
    directory: Path | None = None


class SectionSettings(_Table):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$")
    title: str = Field(min_length=1)
    terms: dict[str, float] = Field(min_length=1)
    exclude: list[str] = []
    title_weight: float = Field(3.0, ge=0)
    lead_weight: float = Field(1.0, ge=0)
    min_score: float = Field(5.0, gt=0)
    quota: int | None = Field(None, ge=1, le=100)

    @field_validator("terms", "exclude")
    @classmethod
    def _terms_compile(cls, value: Any) -> Any:
        for spec in value:
            compile_term(spec)
        return value

    def rule(self) -> SectionRule:
        return SectionRule.build(
            self.key,
            self.title,
            self.terms,
            exclude=tuple(self.exclude),
            title_weight=self.title_weight,
            lead_weight=self.lead_weight,
            min_score=self.min_score,
            quota=self.quota,
        )


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
        for edition in self.editions:
            unknown = sorted(set(edition.sections or ()) - set(keys))
            if unknown:
                raise ValueError(f"edition {edition.name}: unknown section(s) {', '.join(unknown)}")
        return self

    def edition_names(self) -> list[str]:
        return [e.name for e in self.editions] or [self.edition.name]

    def for_edition(self, name: str | None) -> "Settings":
        """These settings as one edition sees them: its name, time, timezone, sections and
        feeds in place of the shared ones. `None`: the first edition (or the only one)."""
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
                max_hours_apart=self.clustering.max_hours_apart,
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


def _describe(exc: ValidationError, path: Path | None) -> str:
    """The first validation error as `origin: key: expected ...`."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
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
