"""A model's own license on the real Atlas: recorded on the ml_model with the tags its terms imply, reported
by the release check with what to do, and inherited by a model fine-tuned from it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from atlas_mlplugin.catalog.apply import apply_catalog
from atlas_mlplugin.catalog.loader import load_catalog
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.model import DatasetSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.policy.check import check_model
from atlas_mlplugin.policy.model import ReleaseContext
from atlas_mlplugin.reads import tags_of
from atlas_mlplugin.transport.settings import KafkaSettings

pytestmark = pytest.mark.integration

LLAMA = "LicenseRef-llama-3.1-community"
OBLIGATIONS = {"use-restrictions-pass-on", "naming-requirement", "user-threshold"}
PUBLIC_COMMERCIAL = ReleaseContext(audience="public", commercial=True)


def catalog_file(uid: str, tmp_path: Path, license_id: str = LLAMA) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(f"""version: 1
datasets:
  - qualified_name: file:///{uid}/data/pretraining-mix
    name: pretraining mix
    license: CC0-1.0
models:
  - qualified_name: hf://{uid}/Llama-3.1-8B
    name: Llama 3.1 8B
    license: {license_id}
    download_location: https://huggingface.co/meta-llama/Llama-3.1-8B
training_runs:
  - run_id: {uid}-pretrain
    name: pretrain
    inputs: [file:///{uid}/data/pretraining-mix]
    outputs: [hf://{uid}/Llama-3.1-8B]
""")
    return path


def own_tags(registry: GovernanceRegistry, qualified_name: str) -> dict[str, dict[str, object]]:
    """The model's own tags; none while Atlas does not have it (yet: a hook message is applied moments later)."""
    if registry.client.find_entity(n.ML_MODEL, qualified_name) is None:
        return {}
    return {t.type_name: t.attributes for t in tags_of(registry.client, qualified_name) if t.direct}


def test_a_catalog_model_with_a_llama_license_carries_its_terms_and_the_check_reports_them(
        registry: GovernanceRegistry, uid: str, tmp_path: Path, run: Callable[..., Result]) -> None:
    path = catalog_file(uid, tmp_path)
    first = apply_catalog(load_catalog(path, catalog=registry.catalog), registry)
    assert first.of("created"), first.lines()
    model = f"hf://{uid}/Llama-3.1-8B"

    tags = own_tags(registry, model)
    assert {n.USE_RESTRICTIONS, n.NAMING_REQUIREMENT, n.USER_THRESHOLD} <= set(tags)
    assert tags[n.USE_RESTRICTIONS]["usePolicyUrl"] == "https://llama.meta.com/llama3_1/use-policy"
    assert tags[n.USER_THRESHOLD]["monthlyActiveUsers"] == 700_000_000
    entity = registry.require(n.ML_MODEL, model)
    assert entity["attributes"]["declaredLicense"] == LLAMA

    # Applying the same file again changes nothing (the model's tags are compared too).
    again = apply_catalog(load_catalog(path, catalog=registry.catalog), registry)
    assert again.writes == 0 and not again.of("updated"), again.lines()

    result = run("check", model, "--audience", "public", "--commercial", "--no-record", "--format", "json")
    report = json.loads(result.output)
    found = {f["rule_id"]: f for f in report["findings"]}
    assert set(found) >= OBLIGATIONS, result.output
    assert "https://llama.meta.com/llama3_1/use-policy" in found["use-restrictions-pass-on"]["remedy"]
    assert "Built with Llama" in found["naming-requirement"]["message"]

    # A changed license replaces the model's tags: Apache-2.0 has none of the three terms.
    changed = apply_catalog(load_catalog(catalog_file(uid, tmp_path, "Apache-2.0"), catalog=registry.catalog),
                            registry)
    assert [e.qualified_name for e in changed.of("updated")] == [model], changed.lines()
    assert not {n.USE_RESTRICTIONS, n.NAMING_REQUIREMENT, n.USER_THRESHOLD} & set(own_tags(registry, model))


def test_a_fine_tune_inherits_its_base_models_license_terms(registry: GovernanceRegistry, uid: str) -> None:
    data = DatasetSpec(qualified_name=f"file:///{uid}/data/support-chats", name="support chats", license="CC0-1.0")
    registry.register_dataset(data)
    base = ModelSpec(qualified_name=f"hf://{uid}/base", name="base", license="llama3.1")  # the card id works too
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-base", name="base", inputs=[data.qualified_name],
                                                 outputs=[base]))
    tuned = ModelSpec(qualified_name=f"models/{uid}/support-bot", name="support bot")
    # The base model is an ordinary Process input, so Atlas propagates its tags to the fine-tune.
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-tune", name="tune",
                                                 inputs=[data.qualified_name, base.qualified_name],
                                                 outputs=[tuned]),
                                 input_types={base.qualified_name: n.ML_MODEL})

    inherited = {t.type_name: t for t in tags_of(registry.client, tuned.qualified_name) if not t.direct}
    for tag in (n.USE_RESTRICTIONS, n.NAMING_REQUIREMENT, n.USER_THRESHOLD):
        assert inherited[tag].source_qualified_name == base.qualified_name
    report = check_model(registry.client, tuned.qualified_name, PUBLIC_COMMERCIAL, record=False)
    assert {f.rule_id for f in report.findings} >= OBLIGATIONS
    assert all(f.source_qualified_name == base.qualified_name for f in report.findings if f.rule_id in OBLIGATIONS)

    # Re-recording the base model without a license (as autolog would) keeps the license it has.
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-base", name="base", inputs=[data.qualified_name],
                                                 outputs=[base.model_copy(update={"license": None})]))
    assert n.USE_RESTRICTIONS in own_tags(registry, base.qualified_name)


def test_a_fine_tune_of_cc_by_nc_weights_is_blocked_for_a_commercial_release(registry: GovernanceRegistry,
                                                                             uid: str) -> None:
    data = DatasetSpec(qualified_name=f"file:///{uid}/data/public", name="public", license="CC0-1.0")
    registry.register_dataset(data)
    base = ModelSpec(qualified_name=f"hf://{uid}/nc-base", name="nc base", license="CC-BY-NC-4.0")
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-nc", name="nc", inputs=[data.qualified_name],
                                                 outputs=[base]))
    tuned = ModelSpec(qualified_name=f"models/{uid}/nc-tuned", name="nc tuned")
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-nc-tune", name="tune", inputs=[base.qualified_name],
                                                 outputs=[tuned]), input_types={base.qualified_name: n.ML_MODEL})
    report = check_model(registry.client, tuned.qualified_name, PUBLIC_COMMERCIAL, record=False)
    blocking = [f for f in report.findings if f.rule_id == "non-commercial-in-commercial-release"]
    assert report.verdict == "BLOCK" and [f.source_qualified_name for f in blocking] == [base.qualified_name]


def test_through_the_kafka_transport_a_model_gets_its_license_tags_too(
        registry: GovernanceRegistry, kafka_settings: KafkaSettings, uid: str) -> None:
    from atlas_mlplugin.atlas.client import AtlasClient
    from atlas_mlplugin.delivery.deliverer import fail_fast
    from atlas_mlplugin.delivery.handler import TypedefGuard, guarded
    from atlas_mlplugin.delivery.operations import OpKind, op_of
    from atlas_mlplugin.transport.hooks import KafkaOpHandler
    from atlas_mlplugin.transport.kafka import HookPublisher
    from tests.integration.snapshots import wait_for

    kafka_registry = GovernanceRegistry(AtlasClient(fail_fast(registry.client.settings)))
    handler = guarded(TypedefGuard(kafka_registry.client),
                      KafkaOpHandler(kafka_registry, HookPublisher(kafka_settings)))
    data = DatasetSpec(qualified_name=f"file:///{uid}/data/k", name="k", license="CC0-1.0")
    registry.register_dataset(data)
    base = ModelSpec(qualified_name=f"hf://{uid}/kafka-base", name="kafka base", license=LLAMA)

    def record(model: ModelSpec) -> None:
        handler(op_of(OpKind.RECORD_TRAINING_RUN, TrainingRunSpec(run_id=f"{uid}-k", name="k",
                                                                  inputs=[data.qualified_name], outputs=[model])))

    record(base)  # new: the tags travel inside the message
    assert wait_for(lambda: {n.USE_RESTRICTIONS, n.USER_THRESHOLD} <= set(own_tags(registry, base.qualified_name)))
    record(base.model_copy(update={"license": "Apache-2.0"}))  # exists: its tags change over REST
    assert wait_for(lambda: registry.require(n.ML_MODEL, base.qualified_name)["attributes"].get("declaredLicense")
                    == "Apache-2.0")
    assert not {n.USE_RESTRICTIONS, n.USER_THRESHOLD} & set(own_tags(registry, base.qualified_name))


def test_a_certified_version_released_under_a_license_carries_its_terms(registry: GovernanceRegistry,
                                                                         uid: str) -> None:
    from atlas_mlplugin.model import EvaluationRunSpec

    data = DatasetSpec(qualified_name=f"file:///{uid}/data/train", name="train", license="CC0-1.0")
    bench = DatasetSpec(qualified_name=f"file:///{uid}/data/bench", name="bench", license="CC0-1.0")
    registry.register_dataset(data)
    registry.register_dataset(bench)
    model = ModelSpec(qualified_name=f"models/{uid}/m", name="m")
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-t", name="t", inputs=[data.qualified_name],
                                                 outputs=[model]))
    certified = ModelSpec(qualified_name=f"models/{uid}/m-certified", name="m certified", license="gemma")
    registry.record_evaluation_run(EvaluationRunSpec(run_id=f"{uid}-e", name="e", model=model.qualified_name,
                                                     datasets=[bench.qualified_name], outputs=[certified]))
    tags = own_tags(registry, certified.qualified_name)
    assert tags[n.USE_RESTRICTIONS]["licenseId"] == "LicenseRef-gemma-terms"


def test_a_three_hop_chain_from_a_llama_base_with_nc_data_midway_blocks_the_leaf_naming_both_sources(
        registry: GovernanceRegistry, uid: str, tmp_path: Path, run: Callable[..., Result]) -> None:
    """base (Llama 3.1 license) -> instruct -> domain fine-tune (reads CC-BY-NC data) -> distilled: a public
    commercial release of the leaf is blocked by the NC data and owes the base model's obligations."""
    base, chats = f"hf://{uid}/Llama-3.1-8B", f"file:///{uid}/data/chats"
    path = tmp_path / "chain.yaml"
    path.write_text(f"""version: 1
datasets:
  - {{qualified_name: "file:///{uid}/data/instructions", name: instructions, license: CC0-1.0}}
  - {{qualified_name: "{chats}", name: chats, license: CC-BY-NC-4.0}}
models:
  - {{qualified_name: "{base}", name: Llama-3.1-8B, license: LicenseRef-llama-3.1-community}}
training_runs:
  - run_id: {uid}-distill
    name: distil
    inputs: ["models/{uid}/domain"]
    outputs: [{{qualified_name: "models/{uid}/distilled", name: distilled}}]
  - run_id: {uid}-instruct
    name: instruct
    inputs: ["{base}", "file:///{uid}/data/instructions"]
    outputs: [{{qualified_name: "models/{uid}/instruct", name: instruct}}]
  - run_id: {uid}-domain
    name: domain
    inputs: ["models/{uid}/instruct", "{chats}"]
    outputs: [{{qualified_name: "models/{uid}/domain", name: domain}}]
""")
    apply_catalog(load_catalog(path, catalog=registry.catalog), registry)
    leaf = f"models/{uid}/distilled"
    report = check_model(registry.client, leaf, PUBLIC_COMMERCIAL, record=False)
    assert report.verdict == "BLOCK"
    sources = {f.rule_id: f.source_qualified_name for f in report.findings}
    assert sources["non-commercial-in-commercial-release"] == chats
    assert {sources[r] for r in OBLIGATIONS} == {base}
    blocked = next(f for f in report.findings if f.rule_id == "non-commercial-in-commercial-release")
    assert blocked.path[0] == chats and blocked.path[-1] == leaf and len(blocked.path) >= 5  # through 2 runs
    # The CLI reports the same, exit code 2 for a release that is not allowed.
    result = run("check", leaf, "--audience", "public", "--commercial", "--no-record")
    assert result.exit_code == 2 and "use-restrictions-pass-on" in result.output and chats in result.output


def test_a_base_model_read_before_it_was_described_takes_its_licenses_tags_for_no_known_license(
        registry: GovernanceRegistry, uid: str, tmp_path: Path) -> None:
    data = DatasetSpec(qualified_name=f"file:///{uid}/data/d", name="d", license="CC0-1.0")
    registry.register_dataset(data)
    base = f"hf://{uid}/gemma-2b"
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-ft", name="ft", inputs=[data.qualified_name, base],
                                                 model_inputs=[base],
                                                 outputs=[ModelSpec(qualified_name=f"models/{uid}/ft", name="ft")]))
    assert set(own_tags(registry, base)) == {n.UNKNOWN_LICENSE}  # a placeholder: nobody described it yet
    path = tmp_path / "base.yaml"
    path.write_text(f"""version: 1
datasets:
  - {{qualified_name: "{data.qualified_name}", name: d, license: CC0-1.0}}
models:
  - {{qualified_name: "{base}", name: gemma-2b, license: gemma}}
training_runs:
  - run_id: {uid}-ft
    name: ft
    inputs: ["{data.qualified_name}", "{base}"]
    outputs: [{{qualified_name: "models/{uid}/ft", name: ft}}]
""")
    report = apply_catalog(load_catalog(path, catalog=registry.catalog), registry)
    assert base in [e.qualified_name for e in report.of("updated")], report.lines()
    tags = own_tags(registry, base)
    assert n.UNKNOWN_LICENSE not in tags and tags[n.USE_RESTRICTIONS]["licenseId"] == "LicenseRef-gemma-terms"
    inherited = {t.type_name for t in tags_of(registry.client, f"models/{uid}/ft") if not t.direct}
    assert n.USE_RESTRICTIONS in inherited and n.UNKNOWN_LICENSE not in inherited
