"""Alerts when a recorded verdict changes: one JSON object per changed release context, with a `text` line
that a chat tool (Slack, Mattermost, Teams incoming webhooks) shows as the message."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import IO, Literal, Protocol
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict

from atlas_mlplugin.errors import AtlasMlError
from atlas_mlplugin.scrubbing import logger, scrub_text

log = logger(__name__)


class VerdictAlert(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["verdict_changed"] = "verdict_changed"
    model: str  # qualifiedName
    model_guid: str
    release: str  # the ml_release's qualifiedName: model#release/audience/terms
    audience: str
    commercial: bool
    previous_verdict: str | None
    verdict: str
    summary: str
    blocked_by: list[str]  # rule ids of the BLOCK findings
    sources: list[str]  # datasets the BLOCK and WARN findings come from
    checked_at: datetime
    event_time: datetime | None = None  # when Atlas recorded the change that set this off
    text: str

    def to_json(self) -> str:
        return self.model_dump_json()

    @property
    def subject(self) -> str:
        return self.model


class TagAlert(BaseModel):
    """A tag that follows from facts was removed by hand: restored from those facts (`derived_tag_restored`),
    or only reported when watch cannot re-derive it (`derived_tag_removed`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["derived_tag_restored", "derived_tag_removed"]
    entity: str  # qualifiedName
    entity_guid: str
    entity_type: str
    tag: str
    facts: str  # what the tag follows from
    checked_at: datetime
    event_time: datetime | None = None
    text: str

    def to_json(self) -> str:
        return self.model_dump_json()

    @property
    def subject(self) -> str:
        return self.entity


Alert = VerdictAlert | TagAlert


def alert_text(model: str, audience: str, commercial: bool, previous: str | None, verdict: str,
               summary: str, sources: list[str]) -> str:
    terms = "commercial" if commercial else "non-commercial"
    change = f"{previous} -> {verdict}" if previous else verdict
    text = f"[atlas-ml] {model}: {audience} {terms} release {change}. {summary}"
    if sources:
        text += f" Source: {', '.join(sources[:5])}" + (f" and {len(sources) - 5} more" if len(sources) > 5 else "")
    return text


class AlertSink(Protocol):
    def send(self, alert: Alert) -> None: ...


class AlertDeliveryError(AtlasMlError):
    """An alert could not be delivered: the batch is not committed, so it is retried on the next run."""


class JsonLinesSink:
    """One alert per line, flushed at once (a tail -f or a log shipper sees it before the offsets move)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def send(self, alert: Alert) -> None:
        self.stream.write(alert.to_json() + "\n")
        self.stream.flush()


class WebhookSink:
    """POSTs each alert as JSON; retries connection errors, timeouts, 429 and 5xx with exponential backoff,
    then raises AlertDeliveryError (a 4xx other than 429 is not retried: the same body would fail again)."""

    def __init__(self, url: str, *, timeout: float = 10.0, attempts: int = 5, backoff: float = 0.5,
                 max_backoff: float = 30.0, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.url, self.timeout, self.attempts = url, timeout, attempts
        # Chat tools' incoming webhooks carry their secret in the path (…/hooks/T0K3N), which no scrubbing rule
        # can tell from a path: messages name the receiver by scheme and host only.
        parts = urlsplit(url)
        self.where = f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
        self.backoff, self.max_backoff, self.sleep = backoff, max_backoff, sleep
        self.session = session or requests.Session()

    def _without_url(self, text: str) -> str:
        """requests' messages quote the URL, or its path (`Max retries exceeded with url: /hooks/T0K3N`)."""
        path = urlsplit(self.url)._replace(scheme="", netloc="").geturl()
        text = text.replace(self.url, self.where)
        return text.replace(path, "/…") if path not in ("", "/") else text

    def send(self, alert: Alert) -> None:
        body = json.loads(alert.to_json())
        problem = ""
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.session.post(self.url, json=body, timeout=self.timeout)
            except requests.RequestException as exc:
                problem = self._without_url(f"{type(exc).__name__}: {exc}")
            else:
                if response.status_code < 300:
                    return
                problem = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    break
            if attempt < self.attempts:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                log.warning("webhook attempt %d failed (%s); retrying in %.1f s", attempt, scrub_text(problem), delay)
                self.sleep(delay)
        raise AlertDeliveryError(scrub_text(
            f"the webhook at {self.where} did not take the alert for {alert.subject} ({problem}) after {attempt} "
            "attempt(s); check the URL and that the receiver is up: the verdict was not written back and the "
            "offsets not committed, so the next `atlas-ml watch` re-checks and re-sends it"))
