"""`akko`: the short import name of AKKO Orchestrator's user-facing helpers (`akko.testing`); the implementation
lives in `akko_orchestrator`."""
