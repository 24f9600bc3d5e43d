"""What Atlas holds for a scenario, comparable across runs: shared by the tests that run one scenario through two
transports (REST and Kafka) and require Atlas to end up holding the same.

A snapshot has every attribute, relationship and tag (own and propagated, with the entity it comes from) of the
named entities, with guids, times and other per-write values set aside and the scenario's prefix replaced."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

from atlas_mlplugin.atlas.client import AtlasClient

APPLY_TIMEOUT = 120.0  # Atlas's hook consumer applies messages at its own pace
VOLATILE = frozenset({"guid", "createTime", "updateTime", "version", "relationshipGuid", "runId", "createdBy",
                      "updatedBy", "entityStatus", "status", "relationshipStatus", "homeId", "isIncomplete",
                      "provenanceType", "labels", "displayText", "proxy", "classificationNames", "meaningNames",
                      "meanings", "pendingTasks"})


def snapshot(client: AtlasClient, names: Iterable[tuple[str, str]], prefix: str, *,
             volatile: Collection[str] = VOLATILE) -> dict[str, Any]:
    """The named (type, qualifiedName) entities as Atlas holds them, with `prefix` replaced and `volatile` keys
    (guids, times) taken out; references and tag sources are shown by qualifiedName."""
    found = {qn: client.find_entity(t, qn) for t, qn in names}
    guids = {str(e["entity"]["guid"]): qn for qn, e in found.items() if e}

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            if "typeName" in value and "guid" in value and "attributes" not in value:  # a reference
                return f"{value['typeName']}:{guids.get(value['guid'], value.get('uniqueAttributes'))}"
            return {k: norm(v) for k, v in sorted(value.items()) if k not in volatile}
        if isinstance(value, list):
            return sorted((norm(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        return value

    result: dict[str, Any] = {}
    for qn, entity in found.items():
        if entity is None:
            result[qn] = None
            continue
        e = entity["entity"]
        tags = [{"type": c["typeName"], "from": guids.get(c.get("entityGuid", e["guid"]), "elsewhere"),
                 "attributes": c.get("attributes"), "propagate": c.get("propagate")}
                for c in e.get("classifications") or []]
        result[qn] = {"type": e["typeName"], "attributes": norm(e.get("attributes")),
                      "relationships": norm(e.get("relationshipAttributes")), "tags": norm(tags)}
    return json.loads(json.dumps(result).replace(prefix, "PREFIX"))


def wait_for(condition: Callable[[], bool], timeout: float = APPLY_TIMEOUT) -> bool:
    """Poll `condition` each second until it holds or `timeout` passes; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(1.0)
    return condition()
