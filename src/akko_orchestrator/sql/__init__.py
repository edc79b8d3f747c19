"""SQL that AKKO generates, built as sqlglot trees (`sql/build.py`)."""
