"""A classification as seen on one entity, with where it came from."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class TagView(BaseModel):
    type_name: str
    direct: bool
    source_guid: str
    source_qualified_name: str | None = None
    source_type: str | None = None
    attributes: dict[str, Any] = {}
