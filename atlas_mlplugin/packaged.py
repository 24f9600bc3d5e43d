"""Files the wheel ships inside the package (hatch_build.py, pyproject.toml's force-include), found the same
way from an installed wheel and from a checkout (editable install), where they live at their source path."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_DIR = PACKAGE_DIR.parent

SCHEMAS = {"catalog": ("_schemas/catalog.schema.json", "schemas/catalog.schema.json"),
           "check-report": ("_schemas/check-report.schema.json", "docs/check-report.schema.json")}


def packaged_file(inside_package: str, in_checkout: str) -> Path | None:
    """The installed copy (atlas_mlplugin/<inside_package>), else the checkout's file, else None."""
    for candidate in (PACKAGE_DIR / inside_package, CHECKOUT_DIR / in_checkout):
        if candidate.is_file():
            return candidate
    return None


def schema_path(name: str) -> Path:
    """The published JSON Schema `catalog` or `check-report`."""
    inside, checkout = SCHEMAS[name]
    path = packaged_file(inside, checkout)
    if path is None:
        raise FileNotFoundError(f"the {name} JSON Schema is not in this installation (looked for "
                                f"{PACKAGE_DIR / inside} and {CHECKOUT_DIR / checkout}); reinstall atlas-mlplugin")
    return path
