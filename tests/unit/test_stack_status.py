"""`akko stack status` reads well at 80 columns (or piped): one line per service, endpoints never cut."""

from __future__ import annotations

from rich.console import Console

from akko_orchestrator.cli.stack_cmd import status_view
from akko_orchestrator.stack.base import ServiceStatus

STATUSES = [
    ServiceStatus("postgres", True, "postgresql://127.0.0.1:45203", 112345, startup_seconds=1.04),
    ServiceStatus("keycloak", True, "http://127.0.0.1:59043", 112377, startup_seconds=23.7),
    ServiceStatus(
        "airflow-dag-processor", False, detail="not running (log: /tmp/p/.akko/stack/x/server.log)"
    ),
]


def render(width: int) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(status_view(STATUSES, width))
    return console.export_text()


def test_narrow_terminal_gets_one_line_per_service() -> None:
    text = render(80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), text
    assert "postgres               running  postgresql://127.0.0.1:45203  pid 112345  1.0s" in lines
    assert "keycloak               running  http://127.0.0.1:59043  pid 112377  23.7s" in lines
    assert lines[3].startswith("airflow-dag-processor  stopped  -")
    assert "not running (log:" in lines[4]


def test_wide_terminal_keeps_the_table() -> None:
    text = render(140)
    assert "┃ service" in text and "postgresql://127.0.0.1:45203" in text and "112345" in text
