"""The one settings class: environment variables with the ``ACCESSDRIFT_`` prefix.

A ``.env`` file in the working directory adds to them. Secrets are ``SecretStr``
so they never show in logs, reprs or tracebacks.
"""

import ipaddress
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from accessdrift.alerts.config import DEFAULT_SECRETS_DIRS
from accessdrift.core.entitlements import expand_patterns
from accessdrift.durations import format_duration, parse_duration
from accessdrift.errors import ConfigError
from accessdrift.sinks.dsn import safe_dsn

if TYPE_CHECKING:
    from accessdrift.sinks.clickhouse import QueryLimits


def _duration(value: Any) -> timedelta:
    try:
        return parse_duration(value)
    except ConfigError as error:
        raise ValueError(str(error)) from error  # pydantic reports ValueErrors per field


Duration = Annotated[timedelta, BeforeValidator(_duration)]

# The longest retention ACCESSDRIFT_EVENT_TTL and _FINDING_TTL take: 50 years (``_ttl``).
MAX_TTL = timedelta(days=18250)


def _paths(value: Any) -> Any:
    """Comma-separated in the environment (a JSON list is read too)."""
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            return json.loads(value)
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ACCESSDRIFT_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Field(
        default=Path(".accessdrift"),
        description="The project's local data folder: embedded ClickHouse, local Kafka, state.",
    )

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None
    topic_prefix: str = Field(
        default="",
        # It begins every topic, consumer group and Faust app id: Kafka takes these
        # characters in a topic's name and no other.
        pattern=r"^[A-Za-z0-9._-]*$",
        description="names a deployment: the start of each of its topic names and groups",
    )
    topic_partitions: int = Field(default=4, ge=1)
    resolver_partitions: int = Field(
        default=1,
        ge=1,
        le=256,
        description="partitions of the resolver (who owns each account and key), by subject: "
        "more than 1 lets several workers share resolving; changing it on a deployment that "
        "ran rebuilds the resolver's state from the canonical topics (docs/operations.md)",
    )
    topic_replication_factor: int = Field(default=1, ge=1)
    max_record_bytes: int = Field(default=1_000_000, ge=1024)
    max_records_per_message: int = Field(
        default=10_000,
        ge=1,
        description="vendor records one raw message may hold, and canonical records it may "
        "make (a SCIM group PATCH, one per member); the rest is dead-lettered with the count",
    )
    fault_file: Path | None = Field(
        default=None,
        description="fault tests and game days: while this file holds `clickhouse-insert`, "
        "the worker's inserts fail as if ClickHouse were down (accessdrift/sinks/faults.py)",
    )
    future_tolerance: Duration = Field(
        default=timedelta(hours=1),
        description="an input event stamped further ahead of the clock is a dead letter: one "
        "forged time must not carry the watermark, and every deadline, to the year 2099",
    )

    # ClickHouse
    clickhouse_url: SecretStr | None = Field(
        default=None,
        description="chdb:///path (embedded, the default) or http(s)://user:password@host:8123/db",
    )
    query_timeout: Duration = Field(
        default=timedelta(seconds=60), description="longest an analyst query may run"
    )
    query_max_rows: int = Field(default=100_000, ge=1, description="most rows a query returns")
    query_max_memory: int = Field(
        # 512 MiB: a constant column of a gigabyte (repeat('x', 1000000) over 1,000
        # rows) is built whole before any count of the result can stop it, and the
        # client's copy of a block costs about three times its size; this refuses it at
        # once, and the project's own views need a fraction of it.
        default=512 * 1024**2,
        ge=1024**2,
        description="bytes of memory one query may use",
    )
    query_max_result_bytes: int = Field(
        default=64 * 1024**2,
        ge=1024,
        description="bytes of result one analyst query returns (more is an error)",
    )
    query_max_threads: int = Field(
        default=2, ge=1, description="threads one analyst query may run on (ClickHouse's)"
    )
    query_max_rows_read: int = Field(
        default=10_000_000_000,
        ge=1,
        description="rows one analyst query may read; ClickHouse refuses a larger read at once",
    )
    query_concurrency: int = Field(
        default=2,
        ge=1,
        description="analyst queries /query/ takes at a time, running or waiting; more: HTTP 429",
    )
    clickhouse_database: str | None = Field(
        default=None,
        # Written into SQL between backquotes: a name of these characters only.
        pattern=r"^[A-Za-z0-9_]+$",
        description="default: accessdrift, or accessdrift_<prefix> for a prefixed deployment",
    )
    clickhouse_cluster: str | None = Field(
        default=None,
        # A cluster's name from the servers' remote_servers, or a macro ({cluster}): it is
        # written into ON CLUSTER and Distributed(...), so nothing else is accepted.
        pattern=r"^[A-Za-z0-9_.{}-]+$",
        description="create the schema on this ClickHouse cluster: replicated local tables "
        "and Distributed tables over them (a server is required; docs/deploy.md)",
    )

    # Worker
    worker_id: str = "accessdrift"
    worker_web_host: str = "127.0.0.1"
    worker_token: SecretStr | None = Field(
        default=None,
        description="every worker endpoint but /live/ and /ready/ needs it (Bearer or login)",
    )
    worker_web_port: int = Field(default=6066, ge=1, le=65535)
    worker_session_ttl: Duration = Field(
        default=timedelta(hours=12),
        description="how long a browser's login (the /login/ session cookie) lasts",
    )
    worker_trust_forwarded: bool = Field(
        default=False,
        description="the worker is behind a proxy: X-Forwarded-Proto: https makes the session "
        "cookie Secure, and X-Forwarded-For's last address is the client of the login limit",
    )
    worker_allowed_hosts: str = Field(
        default="",
        description="comma-separated names the worker answers to with a token, beyond IP "
        "addresses, localhost and its bound name (a proxy's, a DNS name of this host)",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="log lines of the worker, the notifier and the commands: text, or json "
        "(one object per line: time, level, logger, message, deployment, stage and ids)",
    )
    state_store: str = Field(default="rocksdb://", description="rocksdb:// or memory://")
    sink_batch_size: int = Field(default=2000, ge=1)
    # Keys of the detection state kept decoded in memory, most recently used first
    # (the subjects table; a quarter as many identities, whose states are bigger).
    state_cache_size: int = Field(default=20_000, ge=0)
    sink_flush_interval: Duration = timedelta(milliseconds=200)

    # Alerts to people (CONTRACT.md "Alerts to people")
    alert_routes: Path | None = Field(
        default=None, description="the routing file; without it no alert is sent to anyone"
    )
    worker_notifies: bool = Field(
        default=True,
        description="the worker runs the notifier; false when `accessdrift notify` runs apart",
    )
    health_silent_after: Duration = Field(
        default=timedelta(hours=1),
        description="an input topic without a record this long is a health notice",
    )
    health_watermark_stall: Duration = Field(
        default=timedelta(minutes=30),
        description="event time not moving this long while inputs arrive is a health notice",
    )
    health_deadletters_per_minute: int = Field(
        default=100, ge=1, description="more dead letters than this in a minute is a notice"
    )
    alert_retry_window: Duration = Field(
        default=timedelta(hours=24),
        description="how long a delivery that fails for a reason retrying can fix is retried",
    )
    alert_secrets_dirs: Annotated[list[Path], NoDecode, BeforeValidator(_paths)] = Field(
        default_factory=lambda: list(DEFAULT_SECRETS_DIRS),
        description="comma-separated folders a destination's url_file, secret_file and "
        "token_file may be in (links and .. followed first); /proc, /dev, /sys never",
    )

    # Normalizers
    scim_side: Literal["source", "downstream"] = "source"
    scim_system: str = "scim"
    scim_feeds: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='Per feed (Kafka header accessdrift-feed): {"dropbox": {"side": "downstream", '
        '"system": "dropbox"}}',
    )
    hr_csv_mapping: Path | None = Field(default=None, description="YAML column mapping of HR CSV")
    link_by_email: bool = Field(
        default=False,
        description="an unlinked account whose id ends with an email belongs to the directory "
        "identity with that email",
    )

    # Detection
    deprovision_sla: Duration = timedelta(hours=24)
    deprovision_sla_overrides: dict[str, Duration] = Field(
        default_factory=dict,
        description='Per system and identity kind: {"aws": "4h", "okta:nhi": "1h", "*:nhi": "2d"}',
    )
    mover_sla: Duration = Field(
        default=timedelta(days=7),
        description="time allowed from a mover to the revocation of what the old role held",
    )
    mover_sla_overrides: dict[str, Duration] = Field(
        default_factory=dict,
        description='Per system and identity kind, like the deprovision SLA: {"aws": "2d"}',
    )
    stale_after: Duration = Field(
        default=timedelta(days=90),
        description="an active credential or account of an active identity unused this long is "
        "stale (stale_credential, stale_account)",
    )
    stale_after_overrides: dict[str, Duration] = Field(
        default_factory=dict,
        description='Per system and identity kind, like the deprovision SLA: {"aws:human": "45d"}',
    )
    max_credential_age: Duration = Field(
        default=timedelta(days=90),
        description="an NHI's long-lived credential used this long after its creation is "
        "overdue for rotation (rotation_overdue)",
    )
    max_credential_age_overrides: dict[str, Duration] = Field(
        default_factory=dict,
        description='Per system, like the deprovision SLA: {"gcp": "30d"}',
    )
    sharing_window: Duration = Field(
        default=timedelta(days=1),
        description="a credential or account used by, or claimed by, two identities within this "
        "window is shared (shared_credential)",
    )
    uncorrelated_after: Duration = Field(
        default=timedelta(days=7),
        description="an account no identity claims, still used this long after it was first "
        "seen, is a finding (uncorrelated_account_active)",
    )
    privileged_entitlements: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["defaults"],
        description="patterns (* matches anything) of the entitlements that count as "
        'privileged; "defaults" stands for the built-in list (docs/entitlements.md): '
        '"defaults,aws:group/Admins" adds one',
    )
    grace: Duration = timedelta(seconds=60)
    lookback: Duration = timedelta(days=7)
    allowed_lateness: Duration = timedelta(seconds=30)

    # Retention in ClickHouse (applied by `accessdrift migrate` and the worker's start)
    event_ttl: Duration | None = Field(
        default=None,
        description="how long the normalized input events are kept, by event time; none: forever",
    )
    finding_ttl: Duration | None = Field(
        default=None,
        description="how long lag rows, pairs and alerts are kept, by event time; none: forever",
    )

    @field_validator("clickhouse_cluster", "clickhouse_database", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: Any) -> Any:
        # `ACCESSDRIFT_CLICKHOUSE_CLUSTER=` in a .env file means no cluster, as an empty
        # database means the default one.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("event_ttl", "finding_ttl")
    @classmethod
    def _ttl(cls, value: timedelta | None) -> timedelta | None:
        # The TTL is event time + this, as ClickHouse's DateTime, which ends in 2106 and
        # wraps around past it: a TTL of a century would fall in the 1980s and delete
        # every row at the next merge.
        if value is not None and value > MAX_TTL:
            raise ValueError(
                f"at most {format_duration(MAX_TTL)} (ClickHouse's DateTime ends in 2106); "
                "unset keeps the rows forever"
            )
        return value

    @field_validator("worker_token", mode="before")
    @classmethod
    def _token(cls, value: Any) -> Any:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is None or (isinstance(text, str) and not text.strip()):
            return None  # unset, as if absent: then the worker serves loopback only
        if isinstance(text, str) and len(text.strip()) < 16:
            raise ValueError("a worker token needs at least 16 characters")
        return value

    @field_validator("privileged_entitlements", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        # A JSON list, or the patterns separated by commas (easier in a .env file).
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "deprovision_sla_overrides",
        "mover_sla_overrides",
        "stale_after_overrides",
        "max_credential_age_overrides",
        mode="before",
    )
    @classmethod
    def _parse_overrides(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: _duration(item) for key, item in value.items()}
        return value

    @property
    def app_id(self) -> str:
        """The deployment's Faust app id, prefix included: its consumer groups, internal and
        changelog topics and local state folder are named after it, so deployments with
        different prefixes on one broker never share them. Empty prefix: ``worker_id``."""
        return f"{self.topic_prefix}{self.worker_id}"

    @property
    def database(self) -> str:
        """The ClickHouse database: a prefixed deployment's own unless one is configured, so
        that two deployments on one data folder or server never mix their findings."""
        if self.clickhouse_database:
            return self.clickhouse_database
        suffix = re.sub(r"[^A-Za-z0-9_]+", "_", self.topic_prefix).strip("_")
        return f"accessdrift_{suffix}" if suffix else "accessdrift"

    @property
    def query_limits(self) -> "QueryLimits":
        from accessdrift.sinks.clickhouse import QueryLimits

        return QueryLimits(
            seconds=self.query_timeout.total_seconds(),
            rows=self.query_max_rows,
            memory_bytes=self.query_max_memory,
            result_bytes=self.query_max_result_bytes,
            threads=self.query_max_threads,
            rows_read=self.query_max_rows_read,
        )

    @property
    def state_dir(self) -> Path:
        """The worker's local table state (RocksDB), one folder per deployment."""
        return self.data_dir / "worker" / self.app_id

    @property
    def resolver_layout(self) -> str:
        """Suffix of what belongs to one resolver layout: the resolve topic, the subjects
        table and the ingest's group. Empty for one partition, as before there was a choice."""
        return "" if self.resolver_partitions == 1 else f"-p{self.resolver_partitions}"

    @property
    def canonical_group(self) -> str:
        """The batch ingest's consumer group: how far detection was fed, per layout."""
        return f"{self.app_id}.canonical{self.resolver_layout.replace('-', '.')}"

    @property
    def findings_group(self) -> str:
        """The findings' ingest into ClickHouse (``drift.*``, the silences)."""
        return f"{self.app_id}.findings"

    def topic(self, name: str) -> str:
        """A contract topic name with the configured prefix."""
        return f"{self.topic_prefix}{name}"

    @property
    def clickhouse_dsn(self) -> str:
        """The DSN with its secret: only for the client, never for logs."""
        if self.clickhouse_url is not None:
            return self.clickhouse_url.get_secret_value()
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def clickhouse_is_embedded(self) -> bool:
        return self.clickhouse_dsn.startswith("chdb://")

    @property
    def clickhouse_display(self) -> str:
        """The DSN with any password hidden (a query parameter's too): safe to print."""
        return safe_dsn(self.clickhouse_dsn)

    @property
    def worker_url(self) -> str:
        host = self.worker_web_host.strip().removeprefix("[").removesuffix("]")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if not host or (ip is not None and ip.is_unspecified):
            # Bound to every address: reach it on loopback of the same family. asyncio
            # binds ``::`` IPv6 only, so 127.0.0.1 on the port is not the worker's (and
            # another local user may listen there).
            host = "::1" if ip is not None and ip.version == 6 else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"  # an IPv6 literal in a URL
        return f"http://{host}:{self.worker_web_port}"

    @property
    def privileged_patterns(self) -> tuple[str, ...]:
        """The privileged-entitlement patterns with ``defaults`` expanded."""
        return expand_patterns(self.privileged_entitlements)

    def deprovision_sla_for(self, system: str, identity_kind: str) -> timedelta:
        """Most specific first: ``system:kind``, ``system``, ``*:kind``, then the default."""
        overrides = self.deprovision_sla_overrides
        for key in (f"{system}:{identity_kind}", system, f"*:{identity_kind}"):
            if key in overrides:
                return overrides[key]
        return self.deprovision_sla

    def kafka_client_config(self) -> dict[str, str]:
        """librdkafka (confluent-kafka) configuration."""
        config: dict[str, str] = {
            "bootstrap.servers": self.kafka_bootstrap,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_security_protocol.startswith("SASL"):
            # One default for every client: librdkafka's own would be GSSAPI, Faust's PLAIN.
            config["sasl.mechanism"] = self.kafka_sasl_mechanism or "PLAIN"
        if self.kafka_sasl_username:
            config["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password:
            config["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_ssl_cafile:
            config["ssl.ca.location"] = str(self.kafka_ssl_cafile)
        if self.kafka_ssl_certfile:
            config["ssl.certificate.location"] = str(self.kafka_ssl_certfile)
        if self.kafka_ssl_keyfile:
            config["ssl.key.location"] = str(self.kafka_ssl_keyfile)
        if self.kafka_ssl_key_password:
            config["ssl.key.password"] = self.kafka_ssl_key_password.get_secret_value()
        return config


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with a person-readable error when one is wrong: a
    ConfigError of one line (a key of a JSON setting may hold a line break)."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(_problem(issue["loc"], issue["msg"]) for issue in error.errors())
        raise ConfigError(_one_line(f"invalid settings: {problems}")) from error
    except SettingsError as error:
        # pydantic-settings' own, before any validation: a JSON setting that is not JSON.
        field = re.search(r'field "(\w+)"', str(error))
        name = f"ACCESSDRIFT_{field.group(1).upper()}" if field else "a setting"
        raise ConfigError(f"invalid settings: {name}: not valid JSON") from error


def _problem(location: tuple[int | str, ...], message: str) -> str:
    """``ACCESSDRIFT_<FIELD>: message``, and where in a JSON setting's value it is."""
    variable = f"ACCESSDRIFT_{str(location[0]).upper()}" if location else "a setting"
    inside = "".join(f"[{json.dumps(part)}]" for part in location[1:])
    return f"{variable}{' at ' + inside if inside else ''}: {message}"


def _one_line(text: str) -> str:
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
