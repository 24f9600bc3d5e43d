"""A ``requests.Session`` that never hangs and rides out a restarting Atlas.

The apache-atlas SDK calls ``self.session.request(method, path, **params)`` with no timeout and no
retries, so a stalled Atlas hangs it forever and a restarting one fails it immediately. Rather than
wrap every call site, all of the policy lives in ``AtlasSession.request``: handing this session to the
SDK (``sdk.session = session``) gives SDK calls exactly the same timeouts, auth, TLS and retries as ours.

Retries are limited to failures that another attempt can plausibly fix: connection errors, timeouts,
HTTP 429 and 5xx. Other 4xx mean the request itself is wrong and are returned at once.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from atlas_mlplugin import __version__
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.atlas.errors import UNAVAILABLE_HINT, AtlasUnavailableError
from atlas_mlplugin.scrubbing import logger

log = logger(__name__)

RETRY_AFTER_STATUSES = frozenset({429, 503})


def is_retryable_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


class BearerAuth(AuthBase):
    """``Authorization: Bearer`` auth whose repr cannot leak the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BearerAuth) and other._token == self._token

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "BearerAuth(token=<redacted>)"


class BasicAuth(HTTPBasicAuth):
    """requests' basic auth, with a repr that shows the user but never the password."""

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=<redacted>)"


class _RetryableStatus(Exception):
    """Internal signal to tenacity that a response (429/5xx) deserves another attempt."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _is_retryable_exception(exc: BaseException) -> bool:
    if isinstance(exc, _RetryableStatus):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a bad certificate stays bad; retrying only delays the real message
    return isinstance(
        exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait according to a Retry-After header (delta-seconds or HTTP-date), if usable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _root_cause_text(exc: BaseException) -> str | None:
    """Dig the OS-level reason (e.g. 'Connection refused') out of requests/urllib3 wrappers."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        nxt: Any = getattr(current, "reason", None)
        if not isinstance(nxt, BaseException):
            nxt = current.__cause__ or current.__context__
        if nxt is None and current.args and isinstance(current.args[0], BaseException):
            nxt = current.args[0]
        current = nxt if isinstance(nxt, BaseException) else None
    return None


class AtlasSession(requests.Session):
    """Session whose every request gets our timeouts, auth, TLS settings and retry policy.

    Callers may still pass an explicit ``timeout``/``verify``; only missing (``None``) ones are filled
    in. An extra keyword ``max_attempts`` overrides ``settings.max_retries`` for one call, e.g. for a
    single-shot readiness probe.
    """

    def __init__(self, settings: AtlasSettings) -> None:
        super().__init__()
        self.settings = settings
        self.verify = settings.verify
        if settings.token is not None:
            self.auth = BearerAuth(settings.token.get_secret_value())
        elif settings.username is not None:
            password = settings.password.get_secret_value() if settings.password is not None else ""
            self.auth = BasicAuth(settings.username, password)
        self.headers["User-Agent"] = (
            f"atlas-mlplugin/{__version__} {self.headers.get('User-Agent', '')}".strip()
        )

    def __repr__(self) -> str:
        return f"AtlasSession(url={self.settings.url!r}, auth={self.settings.auth_mode})"

    # requests.Session.request has a long positional signature; we only need to see method/url and
    # the keywords we fill in, so everything else is passed through untouched.
    def request(  # type: ignore[override]
        self,
        method: str | bytes,
        url: str | bytes,
        *args: Any,
        max_attempts: int | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        if args:
            # Normalise positional params (params, data, headers, ...) into keywords so that
            # timeout/verify can be inspected regardless of how the caller passed them.
            names = (
                "params",
                "data",
                "headers",
                "cookies",
                "files",
                "auth",
                "timeout",
                "allow_redirects",
                "proxies",
                "hooks",
                "stream",
                "verify",
                "cert",
                "json",
            )
            kwargs.update(zip(names, args, strict=False))
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.settings.timeout
        if kwargs.get("verify") is None:
            # Passing verify explicitly also stops REQUESTS_CA_BUNDLE from overriding verify_tls=False.
            kwargs["verify"] = self.settings.verify

        method_s = method.decode() if isinstance(method, bytes) else method
        url_s = url.decode() if isinstance(url, bytes) else url
        path = urlsplit(url_s).path or "/"
        attempts = max_attempts if max_attempts is not None else self.settings.max_retries
        attempts = max(1, attempts)

        # A write whose answer did not come in time may still be under way in Atlas: sending it again piles
        # the same work up (five copies of one heavy bulk POST ran Atlas 2.1.0 out of heap). Our writes are
        # idempotent upserts, so the caller's queue re-delivers it later, once; reads are retried as usual.
        is_write = method_s.upper() not in ("GET", "HEAD", "OPTIONS")

        def retryable(exc: BaseException) -> bool:
            if is_write and isinstance(exc, requests.exceptions.ReadTimeout):
                return False
            return _is_retryable_exception(exc)

        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            retry=retry_if_exception(retryable),
            before_sleep=lambda rs: self._before_sleep(rs, method_s.upper(), path, attempts),
            reraise=True,
        )
        number = 0
        try:
            for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    response = super().request(method_s, url_s, **kwargs)
                    response.atlas_attempts = number  # type: ignore[attr-defined]
                    if is_retryable_status(response.status_code):
                        raise _RetryableStatus(response)
        except _RetryableStatus as exc:
            return exc.response
        except requests.RequestException as exc:
            if not _is_retryable_exception(exc) and not isinstance(exc, requests.exceptions.SSLError):
                raise
            raise self._unavailable(exc, method_s.upper(), path, number) from exc
        return response

    # -- retry policy --------------------------------------------------------------------------

    def _wait(self, retry_state: RetryCallState) -> float:
        s = self.settings
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            exc = outcome.exception()
            if isinstance(exc, _RetryableStatus) and exc.response.status_code in RETRY_AFTER_STATUSES:
                retry_after = parse_retry_after(exc.response.headers.get("Retry-After"))
                if retry_after is not None:
                    return min(retry_after, s.backoff_max)
        base = wait_random_exponential(multiplier=s.backoff_initial, max=s.backoff_max)
        return min(float(base(retry_state)), s.backoff_max)

    def _reason(self, exc: BaseException | None) -> str:
        if isinstance(exc, _RetryableStatus):
            r = exc.response
            text = f"HTTP {r.status_code}" + (f" {r.reason}" if r.reason else "")
            if r.headers.get("Retry-After"):
                text += f" (Retry-After: {r.headers['Retry-After'][:40]})"
            return text
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return f"connect timeout after {self.settings.connect_timeout:g}s"
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return f"read timeout after {self.settings.read_timeout:g}s"
        if isinstance(exc, requests.exceptions.SSLError):
            return "TLS error: " + (_root_cause_text(exc) or "certificate verification failed")
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            return "connection dropped while reading the response"
        if isinstance(exc, requests.ConnectionError):
            return "connection error: " + (_root_cause_text(exc) or type(exc).__name__)
        return type(exc).__name__ if exc is not None else "unknown"

    def _before_sleep(self, retry_state: RetryCallState, method: str, path: str, attempts: int) -> None:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, _RetryableStatus):
            exc.response.close()  # give the pooled connection back before we wait
        delay = retry_state.next_action.sleep if retry_state.next_action is not None else 0.0
        log.warning(
            "Atlas %s %s failed (attempt %d/%d): %s; retrying in %.2fs",
            method,
            path,
            retry_state.attempt_number,
            attempts,
            self._reason(exc),
            delay,
        )

    def _unavailable(
        self, exc: BaseException, method: str, path: str, attempts: int
    ) -> AtlasUnavailableError:
        reason = self._reason(exc)
        if isinstance(exc, requests.exceptions.SSLError):
            hint = (
                "check ATLAS_CA_BUNDLE (or ATLAS_VERIFY_TLS=false for a throwaway test server) and ATLAS_URL"
            )
        elif isinstance(exc, requests.exceptions.ReadTimeout):
            hint = f"{UNAVAILABLE_HINT}; if Atlas is merely slow, raise ATLAS_READ_TIMEOUT"
            if method not in ("GET", "HEAD", "OPTIONS"):
                hint += " (a write is not re-sent at once: Atlas may still be applying it)"
        else:
            hint = UNAVAILABLE_HINT
        plural = "attempt" if attempts == 1 else "attempts"
        return AtlasUnavailableError(
            f"Atlas at {self.settings.url} did not answer {method} {path}: {reason} "
            f"(gave up after {attempts} {plural})",
            hint=hint,
            method=method,
            url=path,
            attempts=attempts,
        )


def build_session(settings: AtlasSettings) -> AtlasSession:
    """The one place sessions are made, so the CLI, our client and the SDK all share one policy."""
    return AtlasSession(settings)


def attempts_of(response: requests.Response) -> int | None:
    """How many attempts the session needed for ``response`` (None if it did not come from us)."""
    return getattr(response, "atlas_attempts", None)
