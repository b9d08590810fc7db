"""Telling someone when something needs them: a webhook or e-mail, only when configured."""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from email.message import EmailMessage

import yaml

from pipelines.foundation.settings import Settings

log = logging.getLogger("welfare.operations")


def notification_config(settings: Settings) -> dict:
    """The user's notification settings ($WELFARE_HOME/notifications.yml); empty means none.

    webhook_url: https://chat.example.org/hooks/abc     # JSON {"text": ...} is POSTed
    email: {smtp_host: smtp.example.org, from: a@example.org, to: [b@example.org]}
    """
    path = settings.home / "notifications.yml"
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def notify(settings: Settings, subject: str, body: str) -> list[str]:
    """Send the message to every configured channel; returns the channels used. Sends nothing
    unless the user configured it."""
    config = notification_config(settings)
    sent = []
    if url := config.get("webhook_url"):
        request = urllib.request.Request(
            url,
            data=json.dumps({"text": f"{subject}\n{body}"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            urllib.request.urlopen(request, timeout=10).close()
            sent.append("webhook")
        except OSError as error:
            log.warning("webhook notification failed: %s", error)
    if email := config.get("email"):
        message = EmailMessage()
        message["Subject"], message["From"] = subject, email["from"]
        message["To"] = ", ".join(email["to"])
        message.set_content(body)
        try:
            with smtplib.SMTP(
                email["smtp_host"], int(email.get("smtp_port", 25)), timeout=10
            ) as smtp:
                smtp.send_message(message)
            sent.append("email")
        except OSError as error:
            log.warning("e-mail notification failed: %s", error)
    return sent
