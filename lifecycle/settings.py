"""Configuration from the environment (``LIFECYCLE_*``), validated by pydantic.

| variable | default | meaning |
| --- | --- | --- |
| ``LIFECYCLE_MODE`` | ``embedded`` | ``distributed``: workers keep the projections |
| ``LIFECYCLE_DATABASE_URL`` | ``sqlite:///lifecycle.db`` | ``sqlite:///PATH`` or |
| | | ``postgresql://user:pw@host:port/db`` |
| ``LIFECYCLE_AUDIT_KEY`` | (none) | HMAC key of ``audit anchor`` files (keep it apart) |
| ``LIFECYCLE_DEFAULT_TEMPLATE`` | ``generic_b2b`` | template of new leads that name none |
| ``LIFECYCLE_TEMPLATES_DIR`` | (none) | extra ``*.toml`` funnel templates |
| ``LIFECYCLE_SCORING_FILE`` | (built-in) | scoring, grading and nurture configuration |
| ``LIFECYCLE_RATES_FILE`` | (none) | exchange rates into one reporting currency (TOML, |
| | | ``[rates]``); without it money is totalled per currency |
| ``LIFECYCLE_CHANNEL_GROUPS_FILE`` | (none) | channels into groups (TOML, ``[groups]``) for |
| | | ``report … --by channel_group`` (:mod:`lifecycle.channels`) |
| ``LIFECYCLE_CACHE_SIZE`` | ``20000`` | leads kept in memory between inputs |
| ``LIFECYCLE_BATCH_SIZE`` | ``2000`` | inputs saved per transaction by ``ingest`` |
| ``LIFECYCLE_KAFKA_BOOTSTRAP`` | ``127.0.0.1:9092`` | Kafka bootstrap servers (comma-separated) |
| ``LIFECYCLE_TOPIC_PREFIX`` | ``lifecycle.`` | prefix of the three topics |
| ``LIFECYCLE_PARTITIONS`` | ``6`` | partitions of the topics created at start-up |
| ``LIFECYCLE_REPLICATION`` | ``1`` | replication factor of the topics created at start-up |
| ``LIFECYCLE_WORKER_BATCH`` | ``3000`` | touchpoints a worker takes per transaction |
| ``LIFECYCLE_WORKER_ENGINE`` | ``process`` | where a worker's engine runs: ``process`` (a |
| | | child process, a core of its own) or ``thread`` |
| ``LIFECYCLE_WORKER_WEB_PORT`` | ``6066`` | port of a worker's Faust web server |
| ``LIFECYCLE_POLICY_INTERVAL`` | ``60`` | seconds between runs of the decay/nurture policies |
| ``LIFECYCLE_EARLIEST_BUSINESS_TIME`` | ``1970-01-01T00:00:00Z`` | inputs that happened |
| | | earlier are rejected (``implausible_time``) |
| ``LIFECYCLE_MAX_FUTURE_SKEW`` | ``P1D`` | how far past the recorded time an input's |
| | | business time may lie (ISO 8601 duration or seconds) |
| ``LIFECYCLE_MAX_AMOUNT`` | ``1e12`` | largest deal amount accepted |
| ``LIFECYCLE_MAX_INPUT_BYTES`` | ``65536`` | largest input (one JSON object, UTF-8 bytes) |
| ``LIFECYCLE_MAX_PROPERTY_DEPTH`` | ``8`` | nesting depth of a touchpoint's ``properties`` |
| ``LIFECYCLE_MAX_PROPERTY_KEYS`` | ``256`` | keys in a touchpoint's ``properties``, all levels |
| ``LIFECYCLE_PERSONAL_PROPERTIES`` | ``email,name,phone,address`` | touchpoint properties |
| | | encrypted as personal data: names containing one of these parts, or ``*`` for all |
| ``LIFECYCLE_IDENTITY_CONFLICT`` | ``reject`` | an input whose external id and email belong |
| | | to two leads: ``reject`` it (``identity_conflict``), or ``first_key``: apply it |
| | | to the external id's lead and record nothing on the other |
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lifecycle.contracts import Limits

__all__ = ["Settings", "persistence_env"]


class Settings(BaseSettings):
    """Engine settings; every field can be set by ``LIFECYCLE_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="LIFECYCLE_", frozen=True, extra="ignore")

    database_url: str = "sqlite:///lifecycle.db"
    audit_key: SecretStr | None = None  # HMAC key of audit anchors (lifecycle.anchor)
    mode: Literal["embedded", "distributed"] = "embedded"
    default_template: str = "generic_b2b"
    templates_dir: Path | None = None
    scoring_file: Path | None = None
    rates_file: Path | None = None
    channel_groups_file: Path | None = None
    cache_size: int = Field(default=20_000, ge=0)
    batch_size: int = Field(default=2_000, ge=1)
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = Field(default="lifecycle.", pattern=r"^[A-Za-z0-9._-]*$")
    partitions: int = Field(default=6, ge=1)
    replication: int = Field(default=1, ge=1)
    worker_batch: int = Field(default=3_000, ge=1)
    worker_engine: Literal["process", "thread"] = "process"
    worker_web_port: int = Field(default=6066, ge=0, le=65535)
    policy_interval: float = Field(default=60.0, gt=0)
    # The inbound contract's limits (see lifecycle.contracts.Limits for why each exists).
    earliest_business_time: AwareDatetime = datetime(1970, 1, 1, tzinfo=UTC)
    max_future_skew: timedelta = Field(default=timedelta(days=1), ge=timedelta(0))
    max_amount: float = Field(default=1e12, gt=0, allow_inf_nan=False)
    # At most 64 MiB: no touchpoint is larger, and a line is read up to this size.
    max_input_bytes: int = Field(default=65_536, ge=1_024, le=64 * 2**20)
    max_property_depth: int = Field(default=8, ge=1, le=64)
    max_property_keys: int = Field(default=256, ge=1)
    personal_properties: str = "email,name,phone,address"
    identity_conflict: Literal["reject", "first_key"] = "reject"

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        persistence_env(value)
        return value

    @field_validator("max_future_skew", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        # The environment gives strings: "3600" means seconds, as the table says.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value  # an ISO 8601 duration (P1D, PT6H)
        return value

    @property
    def limits(self) -> Limits:
        """What the inbound contract accepts, as configured."""
        return Limits(max_amount=self.max_amount, max_input_bytes=self.max_input_bytes,
                      max_property_depth=self.max_property_depth,
                      max_property_keys=self.max_property_keys)

    @property
    def touchpoints_topic(self) -> str:
        return f"{self.topic_prefix}touchpoints"

    @property
    def events_topic(self) -> str:
        return f"{self.topic_prefix}lead-events"

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic_prefix}touchpoints-dlq"

def persistence_env(url: str) -> dict[str, str]:
    """eventsourcing's environment for a database URL (:func:`lifecycle.adapters.persistence_env`).

    Raises:
        ConfigError: no backend serves the URL.
    """
    from lifecycle.adapters import persistence_env as environment

    return environment(url)
