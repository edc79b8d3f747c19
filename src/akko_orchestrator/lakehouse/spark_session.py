"""Ending a Spark Connect session so that nothing is left for pyspark's finalizer.

pyspark's `SparkSession.__del__` closes the session's client again, and closing a client shuts down the release
thread pool that every Spark Connect session of the process shares. Run by the garbage collector while another
session's thread is inside that pool's `submit()` (which holds the pool's non-reentrant lock), it waits on that
lock forever: a process using a second session after a first one was dropped hung for the test's whole timeout.
pyspark offers no switch for it, hence this function.
"""

from __future__ import annotations

from typing import Any


def stop_session(session: Any) -> None:
    """Stop the session (release it on the server, close its channel), then drop its client so the finalizer
    finds nothing to close (it swallows the AttributeError). A session stopped here before is left as it is."""
    if "_client" not in session.__dict__:
        return
    try:
        session.stop()
    finally:
        session.__dict__.pop("_client", None)
