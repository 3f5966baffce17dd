"""The ``with:`` block of ``uses: lockgate/ingest``, validated once into frozen records.

A bad block becomes one :class:`IngestConfigError` whose message starts with the field path,
e.g. ``ingest stage with.source.postgres.port: Input should be a valid integer``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from lockgate.errors import LockgateError
from lockgate.spec.base import FrozenModel
from lockgate.spec.config_errors import describe_validation_error
from lockgate.stages.data_check.spec import size_bytes

FileFormat = Literal["auto", "parquet", "csv", "jsonl"]
MIN_BUDGET = 16 * 2**20
# zstd level of the parts when output.level is not set: Arrow's own default; on the benchmark
# table (benchmarks/results/ingest-cpu-split.json) 0.6x the CPU of level 3, parts no larger
ZSTD_LEVEL = 1
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


class IngestConfigError(LockgateError):
    """The ``with:`` block of an ingest stage is invalid."""


class FileSource(FrozenModel):
    """A file, a glob, a folder of partitions, or an fsspec URL (``s3://``, ``gs://``, ...)."""

    path: str = Field(description="path, glob, partitioned folder, or fsspec URL")
    format: FileFormat = "auto"
    credentials: str | dict[str, str] | None = Field(
        None,
        description="a secret holding the store's credentials as a JSON object, or a mapping "
        "of credential field to the secret that holds it (docs/ingest.md)",
    )
    ca_file: str | None = Field(
        None,
        description="PEM CA bundle (a project path) the store's and its login host's TLS "
        "certificates must chain to, instead of the system's trust store (object stores)",
    )

    @field_validator("path")
    @classmethod
    def _no_userinfo(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        host = rest.split("/", 1)[0]
        # user:password@host is refused; abfs's container@account names no credential
        if sep and "@" in host and ":" in host.split("@", 1)[0]:
            raise ValueError(
                f"a {scheme}:// URL carries no credentials: declare them as secrets and name "
                "them in `credentials:`"
            )
        return value

    @model_validator(mode="after")
    def _store_fields(self) -> FileSource:
        from lockgate.stages.ingest.object_stores import store_for

        store = store_for(self.path)
        if store is not None and isinstance(self.credentials, dict):
            unknown = sorted(set(self.credentials) - set(store.fields))
            if unknown:
                raise ValueError(
                    f"{store.name} takes no {unknown[0]!r} in credentials; its fields are "
                    + ", ".join(store.fields)
                )
        if self.ca_file is not None and store is None:
            raise ValueError(
                "ca_file is taken by object-store sources (s3://, gs://, az:// and their "
                "aliases): a local path or another scheme has no TLS to check"
            )
        return self


class PostgresSource(FrozenModel):
    """A PostgreSQL query or table, read in one consistent snapshot."""

    host: str = "127.0.0.1"
    port: int = Field(default=5432, ge=1, le=65535)
    database: str = "postgres"
    user: str
    password: str | None = Field(None, description="secret holding the password")
    sslmode: SslMode = "prefer"
    sslrootcert: str | None = Field(None, description="CA file for verify-ca / verify-full")
    connect_timeout: int = Field(default=10, ge=1, description="seconds")
    table: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> PostgresSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of `table` or `query`")
        return self


class Source(FrozenModel):
    files: FileSource | None = None
    postgres: PostgresSource | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Source:
        if (self.files is None) == (self.postgres is None):
            raise ValueError("give exactly one source: `files` or `postgres`")
        return self


class Join(FrozenModel):
    table: str = Field(description="reference table: a Parquet/CSV/JSON-lines file")
    on: str | tuple[str, ...]
    how: Literal["inner", "left", "semi", "anti"] = "left"


class Step(FrozenModel):
    """One transformation; exactly one key is set. Expressions are SQL, e.g. ``price * qty``."""

    select: tuple[str, ...] | None = None
    drop: tuple[str, ...] | None = None
    rename: dict[str, str] | None = None
    filter: str | None = None
    derive: dict[str, str] | None = None
    join: Join | None = None

    @model_validator(mode="after")
    def _one_key(self) -> Step:
        keys = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(keys) != 1:
            raise ValueError(
                "each transform step has exactly one of: select, drop, rename, filter, derive, join"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)


class Incremental(FrozenModel):
    watermark: str = Field(description="column whose greatest value read so far is recorded")
    tiebreaker: str | None = Field(
        None,
        description="a unique, non-null column ordering the rows that share one watermark value, "
        "so a batch can end between them (PostgreSQL sources)",
    )


class BatchLimits(FrozenModel):
    max_rows: int = Field(default=100_000, ge=1)
    max_bytes: int | None = Field(None, ge=1024, description="bytes of output per batch")


class Output(FrozenModel):
    compression: Literal["zstd", "snappy", "lz4", "uncompressed"] = "zstd"
    level: int | None = Field(
        None,
        ge=1,
        le=22,
        description="zstd's level: 1, the default (Arrow's own default), is the fastest; "
        "higher levels spend more CPU for smaller parts",
    )

    @model_validator(mode="after")
    def _level_is_zstd(self) -> Output:
        if self.level is not None and self.compression != "zstd":
            raise ValueError(
                f"output.level applies to zstd only; remove it, or set compression: zstd "
                f"(compression is {self.compression})"
            )
        return self

    @property
    def codec(self) -> tuple[str, int | None]:
        """The Parquet compression and its level, as the writer takes them."""
        if self.compression == "zstd":
            return self.compression, self.level or ZSTD_LEVEL
        return self.compression, None


class IngestConfig(FrozenModel):
    source: Source
    transform: tuple[Step, ...] = ()
    incremental: Incremental | None = None
    mode: Literal["batch", "stream"] = "batch"
    batch: BatchLimits = BatchLimits()
    output: Output = Output()
    memory_budget: str | int | None = Field(
        None, description="the most memory the data in flight may take, e.g. 512MiB"
    )
    encryption: Any = Field(None, description="moved to the top level of lockgate.yaml")

    @field_validator("memory_budget", mode="before")
    @classmethod
    def _is_size(cls, value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"{value!r} is not a size like 256MiB, 2GiB or 500MB")
        if size_bytes(value) < MIN_BUDGET:
            raise ValueError(
                f"{value!r} is below the smallest budget, 16MiB (it bounds the data in flight; "
                "the interpreter and libraries come on top)"
            )
        return value

    @property
    def memory_budget_bytes(self) -> int | None:
        return None if self.memory_budget is None else size_bytes(self.memory_budget)

    @field_validator("encryption")
    @classmethod
    def _moved(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError(
                "encryption moved to the top level of lockgate.yaml: `encryption: {key: NAME}` "
                "there seals this stage's state, every cache entry and every export"
            )
        return value

    @model_validator(mode="after")
    def _stream_needs_order(self) -> IngestConfig:
        if self.mode == "stream" and self.incremental is None and self.source.files is None:
            raise ValueError(
                "mode: stream reads rows past a watermark: add `incremental: {watermark: COLUMN}`"
            )
        return self

    @model_validator(mode="after")
    def _tiebreaker_needs_a_database(self) -> IngestConfig:
        if self.incremental and self.incremental.tiebreaker and self.source.postgres is None:
            raise ValueError(
                "incremental.tiebreaker splits rows that share a watermark value in a PostgreSQL "
                "source; a file source commits whole files or partitions: remove it"
            )
        return self


def parse_ingest_config(with_: Mapping[str, Any]) -> IngestConfig:
    """Validate ``with:``; every problem, in one :class:`IngestConfigError`."""
    try:
        return IngestConfig.model_validate(dict(with_))
    except ValidationError as exc:
        message = describe_validation_error(
            exc,
            prefix="ingest stage ",
            root=("with",),
            hint=" (see docs/ingest.md)",
            model=IngestConfig,
        )
        raise IngestConfigError(message) from None
