"""Counting what Atlas holds after a fault, and the figures the reliability suite reports.

A fault test names its ops by a prefix (one qualifiedName per op) and asks Atlas afterwards how many ACTIVE
entities carry each name: an op is present when its name has one, duplicated when it has more, lost when it
was acknowledged (delivered or kept in the spool) and has none.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from atlas_mlplugin.atlas.client import AtlasClient

PAGE = 100


def census(client: AtlasClient, type_name: str, prefix: str, *, settle: float = 3.0) -> dict[str, int]:
    """ACTIVE entities of `type_name` whose qualifiedName starts with `prefix`, counted per name. The search
    index may lag a commit by a moment, so the count is repeated until two in a row agree."""
    previous: dict[str, int] | None = None
    deadline = time.monotonic() + 60
    while True:
        counts = _count_once(client, type_name, prefix)
        if counts == previous or time.monotonic() > deadline:
            return counts
        previous = counts
        time.sleep(settle)


def _count_once(client: AtlasClient, type_name: str, prefix: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    offset = 0
    while True:
        body: dict[str, Any] = {
            "typeName": type_name, "excludeDeletedEntities": True, "limit": PAGE, "offset": offset,
            "entityFilters": {"attributeName": "qualifiedName", "operator": "startsWith", "attributeValue": prefix},
        }
        page = (client.request("POST", "/v2/search/basic", json=body) or {}).get("entities") or []
        for entity in page:
            name = (entity.get("attributes") or {}).get("qualifiedName") or ""
            if name.startswith(prefix) and entity.get("status", "ACTIVE") == "ACTIVE":
                counts[name] = counts.get(name, 0) + 1
        if len(page) < PAGE:
            return counts
        offset += PAGE


@dataclass
class FaultFigures:
    """One row of the README's reliability table."""

    fault: str
    sent: int
    acknowledged: int
    present: int
    duplicated: int
    dead_lettered: int
    lost_acknowledged: int
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, fault: str, *, sent: list[str], acknowledged: list[str], counts: dict[str, int],
           dead_lettered: int, notes: list[str] | None = None) -> FaultFigures:
        return cls(fault=fault, sent=len(sent), acknowledged=len(acknowledged),
                   present=sum(1 for name in sent if counts.get(name, 0) >= 1),
                   duplicated=sum(max(counts.get(name, 0) - 1, 0) for name in sent),
                   dead_lettered=dead_lettered,
                   lost_acknowledged=sum(1 for name in acknowledged if counts.get(name, 0) == 0),
                   notes=list(notes or []))


@dataclass
class Figures:
    """Every figure one run measured: fault rows, and any other named figure (secrets, receiver)."""

    faults: list[FaultFigures] = field(default_factory=list)
    other: dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        head = "| fault | ops sent | acknowledged | present in Atlas | duplicated | dead-lettered | lost (acked) |"
        rows = [head, "|---|---:|---:|---:|---:|---:|---:|"]
        rows += [f"| {f.fault} | {f.sent} | {f.acknowledged} | {f.present} | {f.duplicated} | {f.dead_lettered} "
                 f"| {f.lost_acknowledged} |" for f in self.faults]
        rows += [f"{name}: {value}" for name, value in self.other.items()]
        return "\n".join(rows)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"faults": [asdict(f) for f in self.faults], "other": self.other}, indent=2))


FIGURES = Figures()
