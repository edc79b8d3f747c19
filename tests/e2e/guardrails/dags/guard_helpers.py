"""A helper module beside the DAG files, imported by its plain name (`import guard_helpers`): AKKO puts the
hand-written folders on sys.path. Its own import-time I/O is the import's, not the DAG file's parse I/O."""

import json
from pathlib import Path

DEFAULTS = json.loads(Path(__file__).with_name("guard_helpers.json").read_text())


def greeting(name: str) -> str:
    return f"{DEFAULTS['greeting']}, {name}"
