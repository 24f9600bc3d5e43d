"""Input limits, checked before anything is written: how long a name may be, which characters it may hold,
how deeply a document may nest. One place, so the catalog, the API, OpenLineage events and the receiver
refuse the same inputs with the same words.

Why these limits:
- nesting: Python's json and yaml parsers recurse per level, so a document nested thousands deep ends in
  RecursionError (a crash, not an error message); no real catalog, policy or RunEvent nests beyond a few
  dozen levels.
- characters: a name with NUL or other control characters breaks Atlas's index and the UI, and bidirectional
  overrides (U+202A-U+202E, U+2066-U+2069) make a name display as another one. A lone UTF-16 surrogate (what
  Python makes of a file name that is not UTF-8, or of a YAML "\\uD800" escape) is no character at all: it
  cannot be printed or stored as UTF-8, and Atlas keeps a "?" in its place.
- length: Atlas looks entities up by qualifiedName in the URL (GET .../uniqueAttribute/...); past the
  server's URL limit it answers HTTP 414 or 431 with no word about which input was at fault. Measured on
  Atlas 2.1.0 (its Jetty keeps request line and headers in a 16 KB buffer), creating an ml_dataset and
  looking it up by qualifiedName works up to a URL of 16,159 bytes: 16,022 characters of plain ASCII, 5,361
  characters that are percent-encoded ("/" -> %2F), 1,806 CJK characters (9 bytes each once encoded), 1,363
  emoji (12 bytes). Creating alone works far beyond (35,050 characters): the lookup is the limit. So a name
  may be MAX_NAME_URL_BYTES once percent-encoded for the URL, which leaves 4 KB of the buffer for the rest of
  the request line and the headers (authentication, proxies); then any name of up to 1,000 characters fits
  whatever its characters. MAX_NAME_LENGTH caps the characters as well, at the longest local path (PATH_MAX),
  to keep names readable.
- YAML files (catalog, policy): PyYAML's pure-Python reader parses about 0.5-1 MB a second and holds the whole
  document in memory, so a file is read only up to MAX_YAML_BYTES (a catalog of 5,000 datasets is under 1 MB);
  aliases may repeat a value, so the document after expanding them is held to MAX_YAML_NODES values (a
  "billion laughs" file of a few lines would otherwise expand to billions); and one file's problems are
  listed up to MAX_ISSUES_SHOWN, since past that the list helps nobody and only costs time.
"""

from __future__ import annotations

import re
from urllib.parse import quote_plus

MAX_NESTING = 64
MAX_NAME_LENGTH = 4096  # characters
MAX_NAME_URL_BYTES = 12_000  # bytes of the name percent-encoded as UTF-8 (measured limit: about 16,000)
MAX_YAML_BYTES = 16 * 1024 * 1024
MAX_YAML_NODES = 1_000_000  # scalars, lists and mappings, with every alias counted as what it repeats
MAX_ISSUES_SHOWN = 200

# C0 and C1 control characters (tab and newline included: a name is one line), the Unicode line and paragraph
# separators (Atlas 2.1.0 answers 403 "not authorized to perform create entity" for a qualifiedName with any
# line break, measured: its authorizer's patterns do not match across lines) and the bidi controls.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")


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
    half = _SURROGATE.search(name)
    if half:
        raise LimitError(f"{what} contains U+{ord(half.group()):04X} at position {half.start()}, half of a UTF-16 "
                         "surrogate pair and no character (a file name that is not UTF-8, or a \\u escape of a "
                         "surrogate); write the character itself")
    if len(name) > MAX_NAME_LENGTH:
        raise LimitError(f"{what} is {len(name):,} characters long; the limit is {MAX_NAME_LENGTH:,} "
                         "(Atlas looks names up in the URL); use a shorter name")
    encoded = url_bytes(name)
    if encoded > MAX_NAME_URL_BYTES:
        raise LimitError(f"{what} takes {encoded:,} bytes in a URL (percent-encoded UTF-8); the limit is "
                         f"{MAX_NAME_URL_BYTES:,} (Atlas looks names up in the URL; any name of up to "
                         f"{MAX_NAME_URL_BYTES // 12:,} characters fits); use a shorter name")
    return name


def url_bytes(text: str) -> int:
    """How long `text` is as a percent-encoded URL query value (what a lookup by qualifiedName sends)."""
    return len(quote_plus(text, safe=""))


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
