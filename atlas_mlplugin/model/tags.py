"""A classification as seen on one entity, with where it came from: the one read model of "tags with
their sources" (reads/tags.py builds it; the CLI, the release check and Python callers use it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class UpstreamTag(BaseModel):
    """One classification on an entity, with the upstream entity it was attached to and the lineage path
    from that entity to this one (qualifiedNames, source first, this entity last)."""

    model_config = ConfigDict(frozen=True)
    type_name: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    direct: bool = False
    source_guid: str
    source_qualified_name: str | None = None
    source_name: str | None = None
    source_type: str | None = None
    source_status: str | None = Field(default=None, description="ACTIVE or DELETED")
    path: tuple[str, ...] = ()
