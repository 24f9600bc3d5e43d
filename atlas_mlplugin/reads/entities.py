"""Reading entities: one by its qualifiedName, many by guid in bulk, and counting what it cost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.errors import NotRegisteredError

BULK_GUIDS = 100  # guids per bulk read: keeps the URL well inside Jetty's header limit


def require_entity(client: AtlasClient, type_name: str, qualified_name: str) -> dict[str, Any]:
    """The entity, or a NotRegisteredError that says to register it first."""
    found = client.find_entity(type_name, qualified_name)
    if found is None:
        raise NotRegisteredError(f"no {type_name} with qualifiedName {qualified_name!r} in Atlas; register it first")
    return dict(found["entity"])


def entities_by_guid(client: AtlasClient, guids: list[str], *, relationships: bool = False
                     ) -> dict[str, dict[str, Any]]:
    """Entities by guid, read in bulk (in chunks that keep the URL inside Jetty's limit)."""
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(guids), BULK_GUIDS):
        chunk = guids[start:start + BULK_GUIDS]
        for entity in client.get_entities(chunk, ignore_relationships=not relationships).get("entities") or []:
            out[entity["guid"]] = entity
    return out


@contextmanager
def count_requests(client: AtlasClient) -> Iterator[list[int]]:
    """Count the HTTP requests the client's session sends inside the block (retries included)."""
    counter = [0]

    def hook(response: Any, *args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return response

    hooks = client.session.hooks.setdefault("response", [])
    hooks.append(hook)
    try:
        yield counter
    finally:
        hooks.remove(hook)
