"""A test module's story: the entities of one catalog it applied, named apart by the session's uid, and the
CLI to check its models (shared by the policy suites that build a catalog once per module)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from click.testing import Result


@dataclass(frozen=True)
class CatalogStory:
    uid: str
    run: Callable[..., Result]
    path: Path | None = None  # the catalog file, for tests that apply it again

    def data(self, name: str) -> str:
        return f"file:///{self.uid}/{name}"

    def model(self, name: str) -> str:
        return f"models/{self.uid}/{name}"

    def check(self, name: str, *args: str) -> tuple[int, dict]:
        """`atlas-ml check` of one of the story's models without recording: (exit code, the JSON report)."""
        result = self.run("check", self.model(name), *args, "--format", "json", "--no-record")
        assert result.exit_code in (0, 2), result.output
        return result.exit_code, json.loads(result.output)
