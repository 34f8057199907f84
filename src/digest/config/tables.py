"""The tables of the settings file: one pydantic model per `[table]`, validated once."""

import tomllib
from datetime import date, time
from functools import cache
from ipaddress import ip_network
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
    IPvAnyNetwork,
    NameEmail,
    SecretStr,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from digest.core.articles import MAX_LINK
from digest.core.edition import EditionKey
from digest.core.outcomes import RetryPolicy
from digest.core.sections import SectionRule, terms_pattern
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


def _terms(value: list[str]) -> list[str]:
    terms_pattern(value)
    return value


# Phrases such as "kyiv|kiev" or "in pictures", each matched as whole words, case-blind.
Terms = Annotated[list[str], AfterValidator(_terms)]


def _path_segments(value: list[str]) -> list[str]:
    for segment in value:
        if not segment.strip() or "/" in segment:
            raise ValueError(f"one segment of a URL path such as 'opinion', not {segment!r}")
    return [segment.strip().lower() for segment in value]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Table):
    url: Annotated[str, AfterValidator(_database_url)] = "sqlite:///var/digest.db"
    keep_days: int = Field(0, ge=0, le=36_500)


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
    require_approval: bool = False

    def key(self, day: date) -> EditionKey:
        """The key of this edition's issue of `day`."""
        return EditionKey(self.name, day)

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
    window_hours: float | None = Field(None, gt=0, le=24 * 14)
    title: str | None = None
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
    refresh_budget: float = Field(120.0, gt=0)

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
    off_topic: Terms = Field(
        default_factory=lambda: list(_example()["classification"]["off_topic"])
    )


class ClusteringSettings(_Table):
    similarity: float = Field(0.3, gt=0, le=1)
    title_similarity: float = Field(88.0, gt=0, le=100)
    model: str = Field(
        default_factory=lambda: _example()["clustering"]["model"], max_length=MAX_LINK
    )
    semantic_similarity: float = Field(0.6, gt=0, le=1)
    cohesion: float = Field(0.44, ge=0, le=1)
    lead_similarity: float = Field(0.58, ge=0, le=1)
    max_hours_apart: float = Field(36.0, gt=0)
    roundups: Terms = Field(default_factory=lambda: list(_example()["clustering"]["roundups"]))
    apart_paths: Annotated[list[str], AfterValidator(_path_segments)] = Field(
        default_factory=lambda: list(_example()["clustering"]["apart_paths"])
    )
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
    engine: Literal["local", "celery"] = "local"
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

    @property
    def claim_size(self) -> int:
        """Rows a sender claims at once: `batch_size`, but no more than the rate limit lets
        it send within half its lease, so that a claim is sent well before its lease ends."""
        rates = [r for r in (self.rate_per_second, self.rate_per_hour / 3600) if r]
        if not rates:
            return self.batch_size
        return max(1, min(self.batch_size, int(self.lease_seconds * min(rates) / 2)))

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            self.retry_base_seconds,
            self.retry_max_seconds,
            self.retry_horizon_hours,
            self.ambiguous_policy,
            self.quarantine_after,
        )


def _broker_url(url: str) -> str:
    if url and not url.startswith(("redis://", "rediss://", "amqp://", "amqps://", "pyamqp://")):
        raise ValueError("a redis://, rediss:// or amqp:// URL")
    return url


BrokerUrl = Annotated[str, AfterValidator(_broker_url)]


class CelerySettings(_Table):
    broker_url: BrokerUrl = "redis://127.0.0.1:6379/0"
    redis_url: BrokerUrl = ""
    queue: str = Field("digest", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    key_prefix: str = Field("digest", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    visibility_timeout: float = Field(3600.0, gt=0)

    @field_validator("redis_url")
    @classmethod
    def _redis_only(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://")):
            raise ValueError("a redis:// or rediss:// URL")
        return value

    @property
    def rate_limit_url(self) -> str | None:
        """Where the rate limit shared by all workers is kept: Redis, or None without one."""
        if self.redis_url:
            return self.redis_url
        return self.broker_url if self.broker_url.startswith(("redis://", "rediss://")) else None


class SmtpSettings(_Table):
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    password: SecretStr = SecretStr("")
    timeout: float = Field(30.0, gt=0)


class WebSettings(_Table):
    base_url: HttpUrl = HttpUrl("http://127.0.0.1:8000")
    studio_token: SecretStr = SecretStr("")
    link_secret: SecretStr = SecretStr("")
    public_subscribe: bool = False
    subscribe_per_hour: int = Field(5, ge=1, le=1000)
    trusted_proxies: list[IPvAnyNetwork] = [ip_network("127.0.0.1/32"), ip_network("::1/128")]


class IngestSettings(_Table):
    timeout: float = Field(20.0, gt=0)
    deadline: float = Field(60.0, gt=0)
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
    exclude: Terms = []
    title_weight: float = Field(3.0, ge=0)
    lead_weight: float = Field(1.0, ge=0)
    min_score: float = Field(5.0, gt=0)
    quota: int | None = Field(None, ge=1, le=100)

    @field_validator("terms")
    @classmethod
    def _terms_compile(cls, value: dict[str, float]) -> dict[str, float]:
        terms_pattern(list(value))
        return value

    @model_validator(mode="after")
    def _can_place(self) -> "SectionSettings":
        # Only a decisive term in the headline or lead places an article: without one, the
        # section would silently stay empty.
        if not self.rule().decisive:
            raise ValueError(
                "a term heavy enough to place an article on its own: weight x "
                "(title_weight + lead_weight + 1) reaching min_score"
            )
        return self

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
