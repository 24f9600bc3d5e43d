"""The catalog file's JSON Schema, published as schemas/catalog.schema.json for editors and CI.

Regenerate after changing CatalogDocument or the specs it uses:
    python -m atlas_mlplugin.catalog.schema > schemas/catalog.schema.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from atlas_mlplugin.catalog.document import CatalogDocument

REGENERATE = "python -m atlas_mlplugin.catalog.schema > schemas/catalog.schema.json"


def catalog_schema() -> dict[str, Any]:
    return CatalogDocument.model_json_schema()


def schema_text() -> str:
    """The schema as committed: stable key order as pydantic emits it, 2-space indent, final newline."""
    return json.dumps(catalog_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema_text(), encoding="utf-8")


def main() -> None:
    sys.stdout.write(schema_text())


if __name__ == "__main__":
    main()
