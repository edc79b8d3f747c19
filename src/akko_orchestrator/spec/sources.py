"""The sources of an `ingest` step: files (with how bad rows are handled), an HTTP JSON API, a SQL query over an
Airflow connection. Re-exported by spec/models.py."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from akko_orchestrator.spec.base import FILE_FORMATS, ConnId, SpecModel, file_format
from akko_orchestrator.spec.secret_values import secret_in_param, secret_in_url


class HttpSource(SpecModel):
    """A JSON HTTP API. Credentials live in the Airflow connection, never in the spec."""

    url: str | None = Field(None, description="Full URL (no credentials); or use `conn_id` + `endpoint`.")
    conn_id: ConnId | None = Field(None, description="Airflow HTTP connection holding host and auth.")
    endpoint: str = ""
    params: dict[str, str] = Field(default_factory=dict)
    records: str | None = Field(None, description="Dotted path to the list of records in the response.")

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str | None) -> str | None:
        problem = secret_in_url(url) if url is not None else None
        if problem is not None:
            raise ValueError(problem)
        return url

    @field_validator("params")
    @classmethod
    def _no_secret_params(cls, params: dict[str, str]) -> dict[str, str]:
        for name, value in params.items():
            problem = secret_in_param(name, value)
            if problem is not None:
                raise ValueError(problem)
        return params

    @model_validator(mode="after")
    def _one_target(self) -> HttpSource:
        if (self.url is None) == (self.conn_id is None):
            raise ValueError("give exactly one of `url` or `conn_id`")
        return self


class SqlSource(SpecModel):
    """A query over an Airflow connection (e.g. PostgreSQL)."""

    conn_id: ConnId
    query: str

    @field_validator("query")
    @classmethod
    def _a_query(cls, query: str) -> str:
        if not query.strip():
            raise ValueError("must not be empty: give the query the connection's database runs")
        return query


class IngestSource(SpecModel):
    """Exactly one of `files`, `http`, `sql`."""

    files: str | None = Field(
        None,
        description="`raw/x/*.csv` (object store key), `./data/*.json` (project folder), or a URI. "
        "A glob fans out: one mapped task per file. Outside the project and the object store, only what "
        "akko.yaml's `allowed_paths` lists.",
    )
    format: Literal["csv", "parquet", "json"] | None = Field(None, description="Default: the file extension.")
    on_bad_rows: Literal["fail", "quarantine"] = Field(
        "fail",
        description="A row that cannot be read as the file's format (an unterminated quote, a wrong number of "
        "fields, text not in `encoding`, a line that is not a JSON object or whose field changes kind): "
        "`fail` fails the step naming file:line and why, nothing written; `quarantine` writes the other rows "
        "and the bad ones, with file, line and reason, to `<output table>_rejects` in the same namespace, "
        "counted in the step's summary. A damaged Parquet file fails either way.",
    )
    encoding: Literal["utf-8", "latin-1", "cp1252", "utf-16"] = Field(
        "utf-8",
        description="Text encoding of csv and json files. Bytes that do not decode are bad rows, never a "
        "column read as bytes.",
    )
    http: HttpSource | None = None
    sql: SqlSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> IngestSource:
        given = [name for name in ("files", "http", "sql") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of `files`, `http`, `sql` (got {', '.join(given) or 'none'})")
        if self.files is not None and self.format is None and self.file_format() is None:
            raise ValueError(
                f"cannot infer the format of {self.files!r}: set `format` to one of {', '.join(FILE_FORMATS)}"
            )
        if self.format is not None and self.files is None:
            raise ValueError("`format` only applies to `files`")
        given = self.model_fields_set & {"on_bad_rows", "encoding"}
        if given and self.files is None:
            raise ValueError(f"`{sorted(given)[0]}` only applies to `files`")
        if "encoding" in given and self.file_format() == "parquet":
            raise ValueError("`encoding` applies to csv and json files (Parquet text is UTF-8)")
        return self

    def file_format(self) -> str | None:
        return file_format(self.files, self.format)

    @property
    def is_glob(self) -> bool:
        return self.files is not None and any(ch in self.files for ch in "*?[")
