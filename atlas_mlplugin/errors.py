"""The root of every error atlas-mlplugin raises on purpose.

Each typed error (Atlas unreachable, an invalid catalog or policy file, an unknown license, an entity not
registered yet, a launcher that cannot start ...) derives from `AtlasMlError` and says what to do in its
message, so a caller (the CLI above all) catches this one type and prints the message instead of a traceback.
"""

from __future__ import annotations


class AtlasMlError(Exception):
    """An error whose message names the input or the condition and what to do about it."""


class NotRegisteredError(AtlasMlError, LookupError):
    """An entity the call refers to is not in Atlas."""
