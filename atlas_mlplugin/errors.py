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


class LocalPathError(AtlasMlError, OSError):
    """A `local_path` to fingerprint does not exist, is an empty directory, or cannot be read.

    An OSError too, so code that caught the plain FileNotFoundError / PermissionError of earlier versions
    still catches it."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"local_path {path}: {problem}; fix the path (in a catalog file, a relative path is "
                         "relative to the file's folder), or give sha256 instead of local_path")

    def __reduce__(self) -> tuple[type[LocalPathError], tuple[object, str]]:
        return type(self), (self.path, self.problem)  # args hold the message only; rebuild from the parts
