"""A helper module beside a hand-written DAG, imported by its plain name at parse time and in the task."""


def greeting() -> str:
    return "hello from dev_helpers"
