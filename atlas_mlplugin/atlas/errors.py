"""Typed errors for everything that can go wrong between us and Atlas.

Callers (the CLI above all) need to tell "the server is down" from "your password is wrong" from
"Atlas rejected this payload" without parsing messages, and users need to be told what to do next.
Every error therefore carries a ``hint`` that is part of ``str(error)``, plus the HTTP facts
(method, path, status, Atlas ``errorCode``/``errorMessage`` and a short body excerpt) as attributes.
Nothing here ever holds request headers or request bodies, so credentials cannot leak through an error.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from atlas_mlplugin.errors import AtlasMlError

if TYPE_CHECKING:  # requests is slow to import; only the type is needed here
    import requests

BODY_EXCERPT_CHARS = 500

UNAVAILABLE_HINT = "is the server running? `atlas-ml server start` starts a local one; check ATLAS_URL"
AUTH_HINT = "check ATLAS_USER/ATLAS_PASSWORD or ATLAS_TOKEN"


def excerpt(text: str | bytes | None, limit: int = BODY_EXCERPT_CHARS) -> str:
    """Shorten a response body so errors stay readable in a terminal and in logs."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more chars]"


class AtlasError(AtlasMlError):
    """Base of every error raised by the Atlas access layer.

    Catching this one class is enough for a CLI to print a clean message instead of a traceback.
    """

    default_hint: str | None = None

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        body: str | None = None,
        attempts: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.method = method
        self.url = url
        self.status = status
        self.error_code = error_code
        self.error_message = error_message
        self.body = body
        self.attempts = attempts

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nHint: {self.hint}"
        return self.message


class ConfigError(AtlasError):
    """The configuration (defaults < properties file < environment) holds an unusable value."""

    default_hint = "fix the value, or unset it to fall back to the default"

    def __init__(
        self, message: str, *, source: str | None = None, key: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.source = source
        self.key = key


class AtlasUnavailableError(AtlasError):
    """Atlas could not be reached at all (refused, DNS, TLS, timeouts) even after retrying."""

    default_hint = UNAVAILABLE_HINT


class AtlasResponseError(AtlasError):
    """Atlas answered 2xx but not with the JSON we asked for (typically a proxy or SSO login page)."""

    default_hint = "check that ATLAS_URL points at the Atlas server itself, not at a proxy or login page"


class AtlasHTTPError(AtlasError):
    """Atlas answered with an HTTP error status; subclasses say which family."""


class AtlasAuthError(AtlasHTTPError):
    """401/403: retrying cannot help, the credentials or permissions must change."""

    default_hint = AUTH_HINT


class AtlasNotFoundError(AtlasHTTPError):
    """404: the guid, type or unique attribute does not exist (or this Atlas lacks the endpoint)."""

    default_hint = "check the guid / type name / qualifiedName; the object may have been deleted"


class AtlasRequestError(AtlasHTTPError):
    """Any other 4xx: Atlas rejected the request itself, so the payload or parameters must change."""

    default_hint = "Atlas rejected the request; see errorCode/errorMessage for what to change"


class AtlasServerError(AtlasHTTPError):
    """5xx (or 429) that persisted through every retry."""

    default_hint = (
        "Atlas failed internally; look for the logged error ID in the Atlas application.log. "
        "Atlas 2.1.0 also answers 500 for endpoints it does not have"
    )


class PendingTasksTimeoutError(AtlasError):
    """Deferred classification propagation did not finish in time, so lineage may still be stale."""

    default_hint = (
        "Atlas is still propagating classifications; wait longer or check GET /api/atlas/admin/tasks "
        "for FAILED tasks"
    )

    def __init__(self, message: str, *, pending: int, timeout: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.pending = pending
        self.timeout = timeout


def _atlas_error_fields(body_text: str) -> tuple[str | None, str | None]:
    try:
        data: Any = json.loads(body_text)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    code = data.get("errorCode")
    message = data.get("errorMessage") or data.get("error")
    return (str(code) if code is not None else None, str(message) if message is not None else None)


def error_from_response(
    response: requests.Response, *, method: str, path: str, attempts: int | None = None
) -> AtlasHTTPError:
    """Map a non-2xx response to the matching typed error.

    ``path`` is passed in by the caller rather than read from the response so the error names the
    Atlas API path the caller asked for (no host, no query string) and never anything sensitive.
    """
    status = response.status_code
    body_text = response.text if response.content else ""
    error_code, error_message = _atlas_error_fields(body_text)
    body = excerpt(body_text)
    method = method.upper()

    what = f"{method} {path} -> HTTP {status}"
    if response.reason:
        what += f" {response.reason}"
    if error_code or error_message:
        what += f": {error_code or '?'}: {error_message or ''}".rstrip()
    elif body:
        what += f": {excerpt(body_text, 200)}"

    cls: type[AtlasHTTPError]
    hint: str | None = None
    if status in (401, 403):
        cls = AtlasAuthError
        if status == 403:
            hint = f"the user is authenticated but not authorized for this call; {AUTH_HINT}"
    elif status == 404:
        cls = AtlasNotFoundError
    elif status == 429 or status >= 500:
        cls = AtlasServerError
        if attempts and attempts > 1:
            what += f" (after {attempts} attempts)"
    else:
        cls = AtlasRequestError
    return cls(
        what,
        hint=hint,
        method=method,
        url=path,
        status=status,
        error_code=error_code,
        error_message=error_message,
        body=body,
        attempts=attempts,
    )
