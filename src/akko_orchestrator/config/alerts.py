"""akko.yaml's `alerts:`: the project's default alert rules (the spec's own `alerts` add to them, or replace the
rule of the same target). Read at parse time like `lakehouse` and `teams`: connection ids and addresses only,
never a secret (the webhook URL and SMTP password live in the Airflow connections).

akko.yaml is read as YAML 1.1 elsewhere (where a bare `on` key is the boolean true): `normalized` turns it back
into `on` so both readings agree; problems are located in akko.yaml by the spec loader's rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from akko_orchestrator.spec.alerts import AlertRule


def normalized(raw: Any) -> Any:
    """`alerts` as YAML 1.1 read it (`True` for a bare `on` key), with `on` restored."""
    if not isinstance(raw, list):
        return raw
    return [
        {("on" if key is True else key): value for key, value in item.items()}
        if isinstance(item, dict)
        else item
        for item in raw
    ]


ProjectAlerts = Annotated[list[AlertRule], BeforeValidator(normalized)]


class _AlertsDocument(BaseModel):
    """akko.yaml seen only for its `alerts` (every other key is ProjectConfig's to judge)."""

    model_config = ConfigDict(extra="ignore")

    alerts: ProjectAlerts = Field(default_factory=list)


def project_alert_rules(raw: Any, akko_yaml: Path, display: str = "akko.yaml") -> ProjectAlerts:
    """Validate akko.yaml's `alerts` (as read by `normalized`); a problem is a SpecError located in akko.yaml."""
    if raw is None or raw == []:
        return []
    try:
        return _AlertsDocument.model_validate({"alerts": normalized(raw)}).alerts
    except ValidationError:
        pass
    from akko_orchestrator.errors import SpecError
    from akko_orchestrator.spec.loader import _issues_from
    from akko_orchestrator.spec.yaml_source import SpecSource

    source = SpecSource.read(akko_yaml, display)  # YAML 1.2, with positions: the issues' lines and columns
    try:
        _AlertsDocument.model_validate(source.data if isinstance(source.data, dict) else {})
    except ValidationError as exc:
        raise SpecError(_issues_from(exc, source, _AlertsDocument)) from None
    raise SpecError([source.issue(("alerts",), "invalid alert rules", "see docs/alerts.md")])
