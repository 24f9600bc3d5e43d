"""Input limits, checked before anything is written: how long a name may be, which characters it may hold,
how deeply a document may nest. One place, so the catalog, the API, OpenLineage events and the receiver
refuse the same inputs with the same words.

Why these limits:
- nesting: Python's json and yaml parsers recurse per level, so a document nested thousands deep ends in
  RecursionError (a crash, not an error message); no real catalog, policy or RunEvent nests beyond a few
  dozen levels.
- characters: a name with NUL or other control characters breaks Atlas's index and the UI, and bidirectional
  overrides (U+202A-U+202E, U+2066-U+2069) make a name display as another one.
- length: Atlas looks entities up by qualifiedName in the URL (GET .../uniqueAttribute/...); past the
  server's URL limit it answers HTTP 414 with no word about which input was at fault.
"""

from __future__ import annotations

import re

MAX_NESTING = 64
MAX_NAME_LENGTH = 4096

# C0 and C1 control characters (tab and newline included: a name is one line) and the bidi controls.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class LimitError(ValueError):
    """An input over one of the limits above; the message names the limit and what to do."""


def check_name(name: str, *, what: str = "qualified_name") -> str:
    """`name` unchanged when it is usable as an Atlas name, else LimitError saying why."""
    if not name.strip():
        raise LimitError(f"{what} is empty; give the asset a unique name")
    bad = _FORBIDDEN.search(name)
    if bad:
        raise LimitError(f"{what} contains the control character U+{ord(bad.group()):04X} at position "
                         f"{bad.start()}; remove it (names must be plain, one-line text)")
    if len(name) > MAX_NAME_LENGTH:
        raise LimitError(f"{what} is {len(name):,} characters long; the limit is {MAX_NAME_LENGTH:,} "
                         "(Atlas looks names up in the URL); use a shorter name")
    return name


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def json_nesting(data: bytes | str, *, limit: int = MAX_NESTING) -> int:
    """How deeply `data` (JSON text) nests, counting only up to `limit` + 1, without parsing it: brackets
    inside strings do not count. Linear and iterative, so it is safe on any input."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_JSON_STRING.sub("", text)):
        if bracket.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def check_json_nesting(data: bytes | str, *, what: str = "the document", limit: int = MAX_NESTING) -> None:
    """LimitError when `data` nests deeper than `limit` (before any parser recurses into it)."""
    if json_nesting(data, limit=limit) > limit:
        raise LimitError(f"{what} nests deeper than {limit} levels; flatten it")
