"""A helper module beside the DAG files, imported by its plain name."""


def label() -> str:
    return "ops"
