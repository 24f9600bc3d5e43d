"""What a failed write means for the queue that holds it: the one place where errors are classified, for the
spool and the OpenLineage event directory alike.

Three classes, because they call for three different actions:

- ``UNAVAILABLE``: Atlas could not be reached or cannot take writes right now (connection refused, DNS,
  TLS, timeouts, HTTP 502/503/504/429, a proxy's login page instead of JSON, 401/403, a configuration that
  names no usable server, our typedefs that cannot be made to exist). Every write would fail alike, so the
  write is kept, stays first in line, the drain stops and nothing is ever dead-lettered for it: dead-
  lettering a whole queue because a token expired or a server restarted would stop delivery for good.
- ``RETRY``: Atlas answered, with an error for this write, that another try may not repeat: HTTP 500 and
  other 5xx (Atlas 2.1.0 answers 500 for BerkeleyDB deadlocks and for two writers creating one
  qualifiedName at once, both gone on the next try), a type Atlas says does not exist (our typedefs are
  applied again first; see handler.TypedefGuard), and errors we did not foresee. The write stays first in
  line and is tried again up to a cap (``dirqueue.DEFAULT_MAX_ATTEMPTS``, counted per item on disk, across
  processes and restarts); then it is dead-lettered with the reason, so the writes behind it go.
- ``REJECT``: the write itself is wrong and will be refused the same way every time: any other 4xx, an
  invalid spec, an unknown license or operation, an entity it refers to that nobody registered, a local
  file to fingerprint that is gone. Dead-lettered at once with the reason; the rest goes on.
"""

from __future__ import annotations

from enum import Enum

import requests
from pydantic import ValidationError

from atlas_mlplugin.atlas.errors import (
    AtlasAuthError,
    AtlasHTTPError,
    AtlasResponseError,
    AtlasServerError,
    AtlasUnavailableError,
    ConfigError,
    PendingTasksTimeoutError,
    excerpt,
)
from atlas_mlplugin.errors import AtlasMlError
from atlas_mlplugin.scrubbing import scrub_text


class FailureKind(str, Enum):
    """What a failed write means for its queue (see the module docstring)."""

    UNAVAILABLE = "unavailable"
    RETRY = "retry"
    REJECT = "reject"


class AtlasNotReadyError(AtlasMlError):
    """Atlas answers but cannot take our writes: our type definitions are missing and could not be applied."""


# Statuses that say "the server (or the gateway in front of it) cannot serve anyone now", not "this request".
UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})

# Atlas's error codes for a type that does not exist: an entity or classification type in a write, a typename
# in a lookup or a search (checked against Atlas 2.1.0).
MISSING_TYPE_CODES = frozenset({
    "ATLAS-400-00-014",  # Type ENTITY with name x does not exist
    "ATLAS-404-00-001",  # Given typename x was invalid
    "ATLAS-404-00-008",  # Given classification x was invalid
    "ATLAS-400-00-00A",  # x: Unknown/invalid typename
})

_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    AtlasUnavailableError,
    AtlasAuthError,
    AtlasResponseError,
    PendingTasksTimeoutError,
    ConfigError,
    AtlasNotReadyError,
    requests.Timeout,
    requests.ConnectionError,
    TimeoutError,
    ConnectionError,
)


def is_missing_type(exc: BaseException) -> bool:
    """Atlas said a type the write uses does not exist (a restarted server before our typedefs are back)."""
    return isinstance(exc, AtlasHTTPError) and exc.error_code in MISSING_TYPE_CODES


def classify(exc: BaseException) -> FailureKind:
    """The class of a handler's failure; the queues act on nothing else."""
    if isinstance(exc, _UNAVAILABLE_ERRORS):
        return FailureKind.UNAVAILABLE
    if isinstance(exc, AtlasServerError):
        return FailureKind.UNAVAILABLE if exc.status in UNAVAILABLE_STATUSES else FailureKind.RETRY
    if is_missing_type(exc):
        return FailureKind.RETRY
    # Refusals of the write itself: 4xx, invalid input (pydantic's ValidationError and LimitError are
    # ValueErrors), our own typed errors, and a local file that cannot be read.
    if isinstance(exc, (AtlasHTTPError, AtlasMlError, ValueError, LookupError, OSError)):
        return FailureKind.REJECT
    return FailureKind.RETRY  # unforeseen (a bug, a surprising answer): a few more tries, then dead-letter


def is_transient(exc: BaseException) -> bool:
    """True when Atlas was unavailable: the write is fine and is kept, in order, with no attempt cap."""
    return classify(exc) is FailureKind.UNAVAILABLE


def describe_error(exc: BaseException) -> str:
    """The error as one scrubbed, bounded text, for logs, spool files and dead-letter reasons."""
    return scrub_text(excerpt(f"{type(exc).__name__}: {_without_input(exc)}", 2000))


def _without_input(exc: BaseException) -> str:
    """pydantic's message quotes the offending input, cut at an arbitrary point ("...assword=secret"), where
    no scrubber can recognise a credential any more: say where and what is wrong, without the input."""
    if isinstance(exc, ValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
                    for e in exc.errors(include_input=False, include_url=False)]
        return f"{exc.error_count()} validation error(s) for {exc.title}: " + "; ".join(problems)
    return str(exc)
