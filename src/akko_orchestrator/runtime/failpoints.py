"""Crash points for the crash-safety tests: `AKKO_FAILPOINTS=after-write` makes the step's process kill itself
with SIGKILL right there (no cleanup, no exception handler runs), exactly like an OOM kill or a lost worker.
Unset, a failpoint costs one environment lookup."""

from __future__ import annotations

import os
import signal

PHASES = ("after-write", "after-check", "after-publish")


def failpoint(name: str) -> None:
    if name in os.environ.get("AKKO_FAILPOINTS", "").split(","):
        os.kill(os.getpid(), signal.SIGKILL)
