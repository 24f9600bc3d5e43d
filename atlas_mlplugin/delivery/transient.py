"""Which failures are Atlas's (retry the same write later) and which are the write's own (never retry)."""

from __future__ import annotations

import requests

from atlas_mlplugin.atlas.errors import (
    AtlasAuthError,
    AtlasResponseError,
    AtlasServerError,
    AtlasUnavailableError,
    PendingTasksTimeoutError,
    excerpt,
)

# Failures where the write is fine but Atlas (or the way to it) is not: keep it, keep the order, retry
# later. Auth and "not JSON" (proxy/SSO page) errors are here too: they hit every write alike, and
# dead-lettering a whole queue because a token expired would stop automatic delivery for good.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    AtlasUnavailableError,
    AtlasServerError,
    AtlasAuthError,
    AtlasResponseError,
    PendingTasksTimeoutError,
    requests.Timeout,
    requests.ConnectionError,
    TimeoutError,
    ConnectionError,
)


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same write later can succeed; anything else is a fault of the write itself."""
    return isinstance(exc, TRANSIENT_ERRORS)


def describe_error(exc: BaseException) -> str:
    return excerpt(f"{type(exc).__name__}: {exc}", 2000)
