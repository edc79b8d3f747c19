"""Class 7 of issue 21, logs are private and masked: AKKO's run log (and the terminal with `-v`) gets Airflow's
output only through Airflow's secrets masker; every log file AKKO or its Airflow creates is 0600 in a 0700
folder, also when it existed with a wider mode (the run log's folder, Airflow's task and `akko dev` logs, a stack
server's log)."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from akko_orchestrator.config.secrets import mask


def plant(label: str) -> str:
    return f"{label}{secrets.token_hex(6)}"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_airflows_output_reaches_the_run_log_masked_and_private(tmp_path: Path) -> None:
    from akko_orchestrator.cli.console import airflow_output_to

    secret = plant("Pipe")
    mask(secret)
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    old = logs / "earlier.log"
    old.write_text("an earlier run\n")
    old.chmod(0o644)
    log_file = logs / "run.log"
    with airflow_output_to(log_file) as progress:
        print(f"python: {secret}", file=sys.__stdout__, flush=True)  # fd 1 (pytest swaps sys.stdout)
        os.write(2, f"fd 2: {secret}\n".encode())
        subprocess.run([sys.executable, "-c", f"print('child: {secret}')"], check=True)  # a child process too
        os.write(1, b"no newline at the end: " + secret.encode())
        progress.print("progress line")
    text = log_file.read_text()
    assert secret not in text
    assert text.count("***") == 4 and "python: ***" in text and "child: ***" in text
    assert (mode(logs), mode(log_file), mode(old)) == (0o700, 0o600, 0o600)


def test_verbose_output_on_the_terminal_is_masked(capfd: pytest.CaptureFixture[str]) -> None:
    from akko_orchestrator.cli.console import airflow_output_to

    secret = plant("Verbose")
    mask(secret)
    with airflow_output_to(None):
        print(f"task log: {secret}", file=sys.__stdout__, flush=True)
        os.write(2, f"stderr: {secret}\n".encode())
    out, err = capfd.readouterr()
    assert "task log: ***" in out and "stderr: ***" in err and secret not in out + err


def test_log_files_and_folders_are_created_private_also_when_they_existed_wider(tmp_path: Path) -> None:
    from akko_orchestrator.config.private_logs import AIRFLOW_LOG_SETTINGS, log_folder, open_private

    previous = os.umask(0)  # nothing here relies on the umask
    try:
        task_logs = tmp_path / "logs" / "dag_id=x" / "run_id=y"
        task_logs.mkdir(parents=True, mode=0o775)
        (task_logs / "attempt=1.log").write_text("")
        (task_logs / "attempt=1.log").chmod(0o664)
        log_folder(tmp_path / "logs")
        assert {mode(p) for p in (tmp_path / "logs").rglob("*") if p.is_dir()} | {
            mode(tmp_path / "logs")
        } == {0o700}
        assert mode(task_logs / "attempt=1.log") == 0o600
        with open_private(tmp_path / "new.log") as handle:
            handle.write(b"x")
        wide = tmp_path / "wide.log"
        wide.write_text("")
        wide.chmod(0o666)
        open_private(wide, truncate=True).close()
        assert (mode(tmp_path / "new.log"), mode(wide)) == (0o600, 0o600)
    finally:
        os.umask(previous)
    assert AIRFLOW_LOG_SETTINGS == {
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": "0o700",
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": "0o600",
    }


def test_airflows_log_folder_is_private_for_every_airflow_akko_starts(project_dir: Path) -> None:
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.local_airflow.environment import airflow_environment

    project = load_project(project_dir)
    dev_logs = project.airflow_home / "logs" / "dev"
    dev_logs.mkdir(parents=True, mode=0o755)
    (dev_logs / "scheduler.log").write_text("")
    (dev_logs / "scheduler.log").chmod(0o644)
    env = airflow_environment(project)
    assert env["AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS"] == "0o600"
    assert env["AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS"] == "0o700"
    assert (mode(project.airflow_home / "logs"), mode(dev_logs), mode(dev_logs / "scheduler.log")) == (
        0o700,
        0o700,
        0o600,
    )


def test_a_stack_servers_log_is_private(tmp_path: Path) -> None:
    from akko_orchestrator.stack.process import free_port, launch

    log_file = tmp_path / "server.log"
    log_file.write_text("the previous run\n")
    log_file.chmod(0o644)
    process, _ = launch(
        [sys.executable, "-c", "print('started')"],
        cwd=tmp_path,
        env=dict(os.environ),
        log_file=log_file,
        record_file=tmp_path / "process.json",
        port=free_port(),
    )
    process.wait(timeout=60)
    assert (mode(log_file), mode(tmp_path / "server.previous.log")) == (0o600, 0o600)
