"""Catalog as code on the real Atlas: apply makes Atlas match the file, and a second apply is a no-op."""

from __future__ import annotations

import json
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


# --- bulk writes --------------------------------------------------------------------------------------------
LICENSES = ["CC-BY-4.0", "CC-BY-NC-4.0", "CC0-1.0", "CC-BY-SA-4.0"]


def bulk_catalog(prefix: str, datasets: int) -> str:
    """`datasets` datasets under four licenses (every 5th with personal data) and one run reading all of them."""
    lines = ["version: 1", "datasets:"]
    for i in range(datasets):
        lines += [f"  - qualified_name: file:///{prefix}/d{i}", f"    name: d{i}", f"    license: {LICENSES[i % 4]}"]
        if i % 5 == 0:
            lines.append("    personal_data_categories: [contact]")
    lines += ["training_runs:", f"  - run_id: {prefix.replace('/', '-')}-run", "    name: run", "    inputs:"]
    lines += [f"      - file:///{prefix}/d{i}" for i in range(datasets)]
    lines += ["    outputs:", f"      - qualified_name: file:///{prefix}/model", "        name: model"]
    return "\n".join(lines) + "\n"


def own_tags(registry: GovernanceRegistry, qualified_name: str, prefix: str) -> list[tuple[str, str]]:
    """The dataset's own tags as (type, attributes with the prefix taken out), sorted."""
    entity = registry.client.find_entity("ml_dataset", qualified_name)
    assert entity is not None, qualified_name
    guid = entity["entity"]["guid"]
    return sorted((c["typeName"], json.dumps({k: v for k, v in (c.get("attributes") or {}).items() if v is not None},
                                             sort_keys=True).replace(prefix, "P"))
                  for c in registry.client.get_classifications(guid) if c.get("entityGuid", guid) == guid)


def model_lineage(registry: GovernanceRegistry, prefix: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The model's tags as (type, source with the prefix taken out), and its run's inputs likewise."""
    tags = sorted((t.type_name, str(t.source_qualified_name).replace(prefix, "P"))
                  for t in tags_of(registry.client, f"file:///{prefix}/model"))
    run = registry.client.find_entity("ml_training_run", f"ml-run:{prefix.replace('/', '-')}-run")
    assert run is not None
    inputs = sorted(str(r["uniqueAttributes"]["qualifiedName"]).replace(prefix, "P")
                    for r in run["entity"]["attributes"]["inputs"])
    return tags, inputs


def test_a_first_apply_writes_in_bulk_and_leaves_what_one_entry_at_a_time_leaves(
        registry: GovernanceRegistry, uid: str, tmp_path: Path) -> None:
    """The finding: the first apply called the registry once per entry (a bulk POST per dataset, then tag
    reads and writes), and wrote a run with all its inputs in one POST that Atlas 2.1.0 did not answer within
    the read timeout for 1,000 inputs. Now the entities of a kind go `per_request` per POST, new ones with
    their tags, and a run's inputs in parts; Atlas ends up holding exactly what the single-entry path leaves."""
    from atlas_mlplugin.reads import count_requests

    datasets, per_request = 60, 20
    bulk, single = f"{uid}/bulk", f"{uid}/single"
    path = tmp_path / "catalog.yaml"
    path.write_text(bulk_catalog(bulk, datasets))
    with count_requests(registry.client) as calls:
        first = apply_catalog(load_catalog(path, catalog=registry.catalog), registry, per_request=per_request,
                              inputs_per_request=25)
    assert len(first.of("created")) == datasets + 2 and not first.of("updated")
    # Datasets: 3 POSTs; the license entities they name: 1 (none when an earlier test wrote them); the model,
    # with its own license tags ahead of its run: 1; the run: 3 parts of 25 inputs or fewer; plus the look-ups
    # before. One at a time it was 4 or more requests per dataset.
    assert first.writes <= 3 + 1 + 1 + 3, first.writes
    assert calls[0] <= first.writes + 6, f"{calls[0]} REST calls for a first apply of {datasets} datasets"
    assert all(e.guid for e in first.entries)

    # The same catalog through the registry's single-entry methods, under another prefix.
    text = bulk_catalog(single, datasets)
    (tmp_path / "single.yaml").write_text(text)
    doc = load_catalog(tmp_path / "single.yaml", catalog=registry.catalog)
    for ds in doc.datasets:
        registry.register_dataset(ds)
    for run in doc.resolved_training_runs():
        registry.record_training_run(run)

    for i in range(datasets):
        assert own_tags(registry, f"file:///{bulk}/d{i}", bulk) == own_tags(registry, f"file:///{single}/d{i}",
                                                                            single), i
    bulk_tags, bulk_inputs = model_lineage(registry, bulk)
    assert (bulk_tags, bulk_inputs) == model_lineage(registry, single)
    assert len(bulk_inputs) == datasets
    # Every tagged input's tags reached the model, each with its source (CC0-1.0 without personal data: none).
    assert {src for _, src in bulk_tags} == {f"file:///P/d{i}" for i in range(datasets) if i % 4 != 2 or i % 5 == 0}

    # A second apply writes nothing; a changed fact updates exactly that entry, in a few requests.
    again = apply_catalog(load_catalog(path, catalog=registry.catalog), registry, per_request=per_request)
    assert again.writes == 0 and len(again.of("unchanged")) == datasets + 2
    path.write_text(bulk_catalog(bulk, datasets).replace("name: d6\n    license: CC0-1.0",
                                                          "name: d6\n    license: CC-BY-NC-4.0"))
    changed = apply_catalog(load_catalog(path, catalog=registry.catalog), registry, per_request=per_request)
    assert [e.qualified_name for e in changed.of("updated")] == [f"file:///{bulk}/d6"]
    assert changed.writes <= 2, changed.writes  # the dataset's upsert, then its tags added
    assert {t for t, src in model_lineage(registry, bulk)[0] if src == "file:///P/d6"} == {
        "NonCommercial", "AttributionRequired"}


def test_a_run_with_more_inputs_than_one_request_takes_links_every_input_and_its_tags(
        registry: GovernanceRegistry, uid: str, tmp_path: Path) -> None:
    """A run written in parts (5 new inputs per request here) ends with every input linked and every input's
    tags on the model with its source; applied again, nothing is written."""
    datasets = 23
    path = tmp_path / "catalog.yaml"
    path.write_text(bulk_catalog(uid, datasets))
    first = apply_catalog(load_catalog(path, catalog=registry.catalog), registry, inputs_per_request=5)
    assert first.writes >= datasets // 5, first.writes  # the run took several requests
    tags, inputs = model_lineage(registry, uid)
    assert inputs == sorted(f"file:///P/d{i}" for i in range(datasets))
    expected = set()
    for i in range(datasets):
        lic = LICENSES[i % 4]
        kinds = {"CC-BY-4.0": ["AttributionRequired"], "CC-BY-NC-4.0": ["NonCommercial", "AttributionRequired"],
                 "CC0-1.0": [], "CC-BY-SA-4.0": ["ShareAlike", "AttributionRequired"]}[lic]
        expected |= {(k, f"file:///P/d{i}") for k in kinds + (["PersonalData"] if i % 5 == 0 else [])}
    assert set(tags) == expected and len(tags) == len(expected)
    assert apply_catalog(load_catalog(path, catalog=registry.catalog), registry, inputs_per_request=5).writes == 0
