"""Catalog as code on the real Atlas: apply makes Atlas match the file, and a second apply is a no-op."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_mlplugin.catalog.apply import apply_catalog
from atlas_mlplugin.catalog.loader import CatalogError, load_catalog
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.reads import tags_of

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "catalog.yaml"


def catalog_for(uid: str, tmp_path: Path) -> Path:
    """The shipped example, with names made unique for this test."""
    text = EXAMPLE.read_text().replace("file:///data/", f"file:///{uid}/data/") \
        .replace("file:///models/", f"file:///{uid}/models/").replace("consent:acme/", f"consent:{uid}/") \
        .replace("derive:", f"derive:{uid}:").replace("run_id: scene-intent", f"run_id: {uid}-scene-intent")
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path


def test_apply_twice_second_is_a_no_op_and_the_model_inherits_what_the_file_says(
        registry: GovernanceRegistry, uid: str, tmp_path: Path) -> None:
    doc = load_catalog(catalog_for(uid, tmp_path), catalog=registry.catalog)
    first = apply_catalog(doc, registry)
    assert first.of("created") and not first.of("updated")

    second = apply_catalog(load_catalog(catalog_for(uid, tmp_path), catalog=registry.catalog), registry)
    assert second.writes == 0, second.lines()
    assert not second.of("created") and not second.of("updated")

    model = f"file:///{uid}/models/scene-intent/1.0"
    tags = tags_of(registry.client, model)
    by_type: dict[str, list[str | None]] = {}
    for tag in tags:
        by_type.setdefault(tag.type_name, []).append(tag.source_qualified_name)
    assert by_type["NonCommercial"] == [f"file:///{uid}/data/street-scenes/v2"]
    # Faces in the street scenes are personal data; the support chats' personal data stops at the
    # attested anonymization step.
    assert by_type["PersonalData"] == [f"file:///{uid}/data/street-scenes/v2"]


def test_a_changed_fact_updates_exactly_that_entry(registry: GovernanceRegistry, uid: str, tmp_path: Path) -> None:
    path = catalog_for(uid, tmp_path)
    apply_catalog(load_catalog(path, catalog=registry.catalog), registry)
    path.write_text(path.read_text().replace("license: CC0-1.0", "license: CC-BY-SA-4.0"))
    report = apply_catalog(load_catalog(path, catalog=registry.catalog), registry)
    assert [e.qualified_name for e in report.of("updated")] == [f"file:///{uid}/data/open-captions/v1"]
    tags = {t.type_name for t in tags_of(registry.client, f"file:///{uid}/models/scene-intent/1.0")
            if t.source_qualified_name == f"file:///{uid}/data/open-captions/v1"}
    assert tags == {"ShareAlike", "AttributionRequired"}


def test_bad_file_names_line_and_field_and_writes_nothing(registry: GovernanceRegistry, uid: str,
                                                          tmp_path: Path) -> None:
    path = catalog_for(uid, tmp_path)
    path.write_text(path.read_text().replace("license: CC-BY-NC-4.0", "license: CC-BY-NC-4"))
    with pytest.raises(CatalogError) as err:
        load_catalog(path, catalog=registry.catalog)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "CC-BY-NC-4\n" in text + "\n")
    assert f"{path}:{line}:" in str(err.value) and "license" in str(err.value) and "CC-BY-NC-4.0" in str(err.value)
    assert registry.client.find_entity("ml_dataset", f"file:///{uid}/data/street-scenes/v2") is None


def test_a_no_op_apply_reads_in_bulk_whatever_else_atlas_holds(registry: GovernanceRegistry, uid: str,
                                                               tmp_path: Path) -> None:
    """The finding: a no-op apply read every entry on its own and, per dataset, its license with all its
    relationships (every dataset under that license in Atlas): 2,005 calls and 109 s for 1,000 datasets,
    growing with the server's data. Now the reads are a few bulk requests, however many datasets there are."""
    from atlas_mlplugin.reads import count_requests

    datasets = 150
    text = "version: 1\ndatasets:\n" + "".join(
        f"  - qualified_name: file:///{uid}/bulk/d{i}\n    name: d{i}\n    license: CC-BY-NC-4.0\n"
        for i in range(datasets))
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    assert len(apply_catalog(load_catalog(path, catalog=registry.catalog), registry).of("created")) == datasets
    with count_requests(registry.client) as calls:
        again = apply_catalog(load_catalog(path, catalog=registry.catalog), registry)
    assert again.writes == 0 and len(again.of("unchanged")) == datasets
    assert calls[0] <= 5, f"{calls[0]} REST calls for a no-op apply of {datasets} datasets"
    # A changed dataset is still found among them.
    path.write_text(text.replace("name: d7\n    license: CC-BY-NC-4.0", "name: d7\n    license: CC0-1.0"))
    changed = apply_catalog(load_catalog(path, catalog=registry.catalog), registry)
    assert [e.qualified_name for e in changed.of("updated")] == [f"file:///{uid}/bulk/d7"]
