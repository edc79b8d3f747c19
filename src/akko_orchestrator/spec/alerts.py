"""Alert rules and freshness deadlines, as a spec (and akko.yaml) writes them. Plain models: no Airflow here.

A rule sends the events it is `on` to one target: a Slack incoming webhook or e-mail, each through an Airflow
connection (the webhook's URL and token, the SMTP server and its password live there, never in a file).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from akko_orchestrator.spec.base import ConnId, PositiveDuration, SpecModel, TableName

ALERT_EVENTS = ("failure", "check_warning", "deadline_missed")
AlertEvent = Literal["failure", "check_warning", "deadline_missed"]
TIME_OF_DAY = r"^([01]\d|2[0-3]):[0-5]\d$"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class SlackTarget(SpecModel):
    """A Slack incoming webhook, through an Airflow connection of the Slack provider (`slackwebhook`) whose
    password holds the webhook token or URL."""

    conn_id: ConnId = Field(description="The Airflow connection of the Slack incoming webhook.")


class EmailTarget(SpecModel):
    """E-mail through an Airflow SMTP connection (host, port, login, password, TLS)."""

    to: list[str] = Field(min_length=1, description="Recipients.")
    conn_id: ConnId = Field("smtp_default", description="The Airflow SMTP connection.")
    from_email: str | None = Field(None, description="Sender; default: the connection's `from_email` extra.")

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [address for address in value if not _EMAIL.match(address)]
        if bad:
            raise ValueError(f"not an e-mail address: {', '.join(bad)}")
        return value


class AlertRule(SpecModel):
    """Where the events in `on` are sent: exactly one of `slack` or `email`."""

    on: list[AlertEvent] = Field(
        description="`failure` (a task failed for good, after its retries), `check_warning` (a step published "
        "with `warn` checks failing), `deadline_missed` (the pipeline's `deadline` passed); `[]` silences a "
        "target akko.yaml sends to."
    )
    slack: SlackTarget | None = Field(None, description="Send to a Slack incoming webhook.")
    email: EmailTarget | None = Field(None, description="Send an e-mail.")

    @field_validator("on", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("on")
    @classmethod
    def _sorted(cls, value: list[str]) -> list[str]:
        return sorted(set(value), key=ALERT_EVENTS.index)

    @model_validator(mode="after")
    def _one_target(self) -> AlertRule:
        if (self.slack is None) == (self.email is None):
            raise ValueError("give exactly one target: `slack` or `email`")
        return self

    @property
    def target_key(self) -> tuple[str, ...]:
        """What makes two rules the same target (a spec's rule replaces akko.yaml's for it)."""
        if self.slack is not None:
            return ("slack", self.slack.conn_id)
        assert self.email is not None
        return ("email", self.email.conn_id, *sorted(self.email.to))

    def target(self) -> dict[str, Any]:
        """The target as plain JSON data (what the DAG's callbacks carry)."""
        if self.slack is not None:
            return {"slack": self.slack.conn_id}
        assert self.email is not None
        return {
            "email": sorted(self.email.to),
            "conn_id": self.email.conn_id,
            **({"from_email": self.email.from_email} if self.email.from_email else {}),
        }


class Deadline(SpecModel):
    """When the pipeline's tables (or one `table`) must be published: `by` a UTC time of day, or `within` a
    duration of the run being queued. Missing it sends `deadline_missed` (evaluated by Airflow's scheduler)."""

    by: Annotated[str, Field(pattern=TIME_OF_DAY)] | None = Field(
        None,
        description="`HH:MM` UTC: the first such time at or after the run's scheduled time (a manual run: when "
        "it was triggered), e.g. `06:00`.",
    )
    within: PositiveDuration | None = Field(
        None, description="A duration after the run was queued, e.g. `2h`."
    )
    table: TableName | None = Field(
        None,
        description="Only this table, one the pipeline writes: met once the run published it (default: the "
        "whole run must succeed in time).",
    )

    @model_validator(mode="after")
    def _one(self) -> Deadline:
        if (self.by is None) == (self.within is None):
            raise ValueError("give exactly one of `by` (a UTC time such as `06:00`) or `within` (e.g. `2h`)")
        return self

    def describe(self) -> str:
        when = f"by {self.by} UTC" if self.by else f"within {self.within} of the run being queued"
        return f"{self.table} {when}" if self.table else when


def deadlines_of(value: Deadline | list[Deadline] | None) -> list[tuple[tuple[str | int, ...], Deadline]]:
    """A spec's `deadline` (one or a list) as (its path in the spec, the deadline) pairs."""
    if value is None:
        return []
    if isinstance(value, Deadline):
        return [(("deadline",), value)]
    return [(("deadline", index), deadline) for index, deadline in enumerate(value)]


def effective_rules(project: list[AlertRule], spec: list[AlertRule]) -> list[AlertRule]:
    """akko.yaml's rules, each replaced by the spec's rule for the same target, then the spec's other rules; a
    rule with no events (`on: []`) sends nothing."""
    by_target = {rule.target_key: rule for rule in spec}
    merged = [by_target.pop(rule.target_key, rule) for rule in project]
    merged += [rule for rule in spec if rule.target_key in by_target]
    return [rule for rule in merged if rule.on]


def targets_for(rules: list[AlertRule], event: str) -> list[dict[str, Any]]:
    """The targets subscribed to `event`, as plain data, in rule order."""
    return [rule.target() for rule in rules if event in rule.on]
