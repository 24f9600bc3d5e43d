"""Errors of the local Atlas launcher; each says what to do next."""

from __future__ import annotations

from atlas_mlplugin.errors import AtlasMlError


class LauncherError(AtlasMlError):
    """The local Atlas could not be obtained, configured, started or stopped."""

    def __init__(self, message: str, *, hint: str = "", log_tail: str = "") -> None:
        self.message = message
        self.hint = hint
        self.log_tail = log_tail
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [self.message]
        if self.log_tail:
            parts.append("--- last lines of the server log ---\n" + self.log_tail)
        if self.hint:
            parts.append(f"What to try: {self.hint}")
        return "\n".join(parts)
