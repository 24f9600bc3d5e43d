"""License and notice addresses are stored as the bare absolute address, nothing around it.

The Atlas 2.1 UI shows every text attribute HTML-escaped, never as a link (CommonViewFunction.propertyTable
and TagDetailTableLayoutView escape it; its Utils.isUrl is never called), so an officer copies the value
into the browser: it must be the address alone, absolute, with its scheme. The regex below is Atlas's own
Utils.isUrl, kept so that a UI which does link addresses recognises ours."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from atlas_mlplugin.licenses import LicenseCatalog

ATLAS_IS_URL = re.compile(r"(ftp|http|https):\/\/(\w+:{0,1}\w*@)?(\S+)(:[0-9]+)?(\/|\/([\w#!:.?+=&%@!\-\/]))?")
TYPEDEFS = Path(__file__).resolve().parents[2] / "typedefs"


def bare_address(value: str) -> bool:
    parts = urlsplit(value)
    return (parts.scheme in ("http", "https") and bool(parts.netloc) and value == value.strip()
            and not re.search(r"\s", value) and ATLAS_IS_URL.match(value) is not None)


def test_bare_address_tells_an_address_from_text_around_one() -> None:
    assert bare_address("https://spdx.org/licenses/CC-BY-4.0.html")
    for value in ("see https://spdx.org/licenses/CC-BY-4.0.html", "spdx.org/licenses/CC-BY-4.0.html",
                  "https://spdx.org/licenses/CC BY.html", "/licenses/CC-BY-4.0.html", " https://a.example/x"):
        assert not bare_address(value), value


def test_every_catalog_license_address_is_bare() -> None:
    licenses = LicenseCatalog.from_csv().all()
    addresses = [lic.url for lic in licenses if lic.url]
    assert len(addresses) >= 10
    assert [a for a in addresses if not bare_address(a)] == []


def test_the_demo_story_addresses_are_bare() -> None:
    story = yaml.safe_load(resources.files("atlas_mlplugin.demo").joinpath("story.yaml").read_text("utf-8"))
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and key.lower().endswith("url"):
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(story)
    assert found and [a for a in found if not bare_address(a)] == []


def test_every_address_attribute_tells_the_officer_to_copy_it() -> None:
    """An officer reading an attribute's description in the UI learns the address will not be clickable."""
    described = []
    for path in sorted(TYPEDEFS.glob("10-ml/*.json")):
        doc = json.loads(path.read_text("utf-8"))
        for category in ("entityDefs", "classificationDefs"):
            for type_def in doc.get(category, []):
                for attr in type_def.get("attributeDefs", []):
                    if attr["name"].lower().endswith("url"):
                        described.append((type_def["name"], attr["name"], attr.get("description", "")))
    assert len(described) >= 6
    assert [(t, a) for t, a, d in described if "copy into the browser" not in d] == []
