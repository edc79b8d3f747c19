"""Sending alerts through Airflow's providers: the Slack provider's `SlackWebhookNotifier` (an incoming webhook
connection) and the SMTP provider's `SmtpNotifier` (an SMTP connection).

- `FailureNotifier` is a task's `on_failure_callback`: Airflow calls it once a task fails for good (after its
  retries; a try that will be retried calls `on_retry_callback` instead), in the task's process.
- `send_check_warnings` runs in the operator after a step published with `warn` checks failing.
- `deadline_missed` is the `AsyncCallback` of the pipeline's deadline alert: Airflow's scheduler queues it when
  the deadline passes and the triggerer awaits it.

A target that cannot be reached is logged (its kind, connection id and the error) and never fails the step or
stops the other targets. Messages go as plain text, never through Jinja (an error message is not a template).
Before anything is sent, the target's connection (a webhook URL's path is its token, an SMTP password) is
registered with Airflow's secrets masker, and the message and any error are masked with it.
"""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

from akko_orchestrator.alerts.messages import Message, deadline_message, failure_message, warning_message
from akko_orchestrator.config.secrets import mask_connection_id, redact

log = logging.getLogger(__name__)
Target = dict[str, Any]  # {"slack": conn_id} or {"email": [to...], "conn_id": id, "from_email": ...}


def send(targets: list[Target], message: Message) -> int:
    """Send `message` to every target; returns how many accepted it."""
    sent = 0
    for target in targets:
        mask_connection_id(str(target.get("slack") or target.get("conn_id")))  # before its hook logs anything
    message = Message(redact(message.subject), redact(message.text))
    for target in targets:
        try:
            _send_one(target, message)
        except Exception as exc:  # noqa: BLE001 - an alert that cannot go out is logged, never fatal
            log.warning(
                "alert not sent to %s: %s: %s", describe(target), type(exc).__name__, redact(str(exc))
            )
        else:
            sent += 1
            log.info("alert sent to %s: %s", describe(target), message.subject)
    return sent


def describe(target: Target) -> str:
    if "slack" in target:
        return f"Slack (connection {target['slack']})"
    return f"e-mail to {', '.join(target['email'])} (connection {target['conn_id']})"


def _send_one(target: Target, message: Message) -> None:
    if "slack" in target:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        SlackWebhookNotifier(slack_webhook_conn_id=target["slack"], text=message.text).notify({})
        return
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    SmtpNotifier(
        to=list(target["email"]),
        from_email=target.get("from_email"),
        subject=message.subject,
        html_content=f"<pre>{html.escape(message.text)}</pre>",
        smtp_conn_id=target["conn_id"],
    ).notify({})


class FailureNotifier(BaseNotifier):
    """A task's `on_failure_callback`. Holds plain data only; Airflow serializes no callback (just the fact that
    a task has one), so the DAG's serialization does not depend on it."""

    def __init__(self, *, pipeline: str, targets: list[Target]):
        super().__init__()
        self.pipeline = pipeline
        self.targets = targets

    def __call__(self, *args: Any) -> None:
        # BaseNotifier.__call__ would render template fields; a plain-text alert needs none
        self.notify(args[0] if len(args) == 1 else {})

    def notify(self, context: Any) -> None:
        send(self.targets, failure_message(self.pipeline, context))


def send_check_warnings(pipeline: str, step: str, result: Any, targets: list[Target], context: Any) -> int:
    """After a step: one alert per table it published with `warn` checks failing (its XCom summary says)."""
    if not targets:
        return 0
    sent = 0
    for checks in _check_summaries(result):
        if checks.get("warned"):
            message = warning_message(pipeline, step, str(context.get("run_id")), checks, context.get("ti"))
            sent += send(targets, message)
    return sent


def _check_summaries(result: Any) -> list[dict[str, Any]]:
    items = result if isinstance(result, list) else [result]
    return [
        item["checks"] for item in items if isinstance(item, dict) and isinstance(item.get("checks"), dict)
    ]


async def deadline_missed(
    *,
    pipeline: str,
    deadline: str,
    tables: list[str],
    targets: list[Target],
    context: dict[str, Any] | None = None,
) -> int:
    """The deadline alert's callback, awaited by Airflow's triggerer (kwargs are the DAG's plain data plus the
    scheduler's simple context). The providers' hooks are synchronous here (the SMTP provider's async path needs
    aiosmtplib), so sending runs in a worker thread, as Airflow's own async connection lookup does."""
    message = deadline_message(pipeline, deadline, tables, context)
    return await asyncio.to_thread(send, targets, message)
