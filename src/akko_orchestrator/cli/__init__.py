"""The `akko` command: a thin layer over the library; one error handler, output through one rich console."""
