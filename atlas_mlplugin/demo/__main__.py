"""`make demo`: a local Atlas, our types, and a small story whose model inherits its data's obligations.

Idempotent: running it again re-uses the running server and changes nothing in Atlas.
"""

from __future__ import annotations

import sys

from pydantic import SecretStr

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.typedefs import apply
from atlas_mlplugin.config import AtlasSettings
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.server.errors import LauncherError
from atlas_mlplugin.server.launcher import LocalAtlas

STREET_SCENES = DatasetSpec(
    qualified_name="file:///datasets/street-scenes/v2", name="street-scenes", version="2",
    description="Street photos with pedestrian boxes, collected by a university lab.",
    license="CC-BY-NC-4.0", creator="Example Vision Lab", url="https://example.org/street-scenes",
)
SUPPORT_CHATS = DatasetSpec(
    qualified_name="file:///datasets/support-chats/2026-10", name="support-chats", version="2026-10",
    description="Customer support conversations exported from the ticketing system.",
    license="CC-BY-4.0", creator="Example Corp Support", personal_data_categories=["email", "name", "chat-text"],
)
MODEL = ModelSpec(qualified_name="models/scene-intent/1", name="scene-intent", version="1",
                  type_of_model="multimodal classifier", download_location="file:///models/scene-intent/1")
RUN = TrainingRunSpec(run_id="demo-scene-intent-1", name="train scene-intent v1",
                      inputs=[STREET_SCENES.qualified_name, SUPPORT_CHATS.qualified_name], outputs=[MODEL],
                      hyperparameters={"epochs": "5", "lr": "0.001"}, framework="pytorch",
                      processing_purpose="model-training", code_revision="demo")


def say(msg: str = "") -> None:
    print(msg, flush=True)


def main() -> int:
    atlas = LocalAtlas()
    try:
        status = atlas.start(progress=lambda msg: say(f"  {msg}"))
    except LauncherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    client = AtlasClient(AtlasSettings(url=status.url, username=status.user, password=SecretStr(status.password)))

    say("\n1. Apply the ML governance types")
    report = apply(client)
    say(f"   {len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} up to date")

    say("\n2. Register two datasets; their tags follow from their license and personal data")
    registry = GovernanceRegistry(client)
    for ds in (STREET_SCENES, SUPPORT_CHATS):
        guid = registry.register_dataset(ds)
        tags = sorted(c["typeName"] for c in client.get_classifications(guid))
        say(f"   {ds.name:<15} license {ds.license:<13} -> {', '.join(tags)}")

    say("\n3. Record a training run: both datasets -> run -> model")
    registry.record_training_run(RUN)
    say(f"   {RUN.name}: {len(RUN.inputs)} inputs -> {MODEL.qualified_name}")

    say(f"\n4. Tags on model '{MODEL.name}', propagated by Atlas along lineage, with their sources:")
    for tag in registry.tags_of(MODEL.qualified_name):
        origin = "direct" if tag.direct else f"from {tag.source_qualified_name}"
        detail = tag.attributes.get("licenseId") or ",".join(tag.attributes.get("categories") or [])
        say(f"   {tag.type_name:<20} {detail:<22} {origin}")

    model_guid = client.find_entity("ml_model", MODEL.qualified_name)["entity"]["guid"]  # type: ignore[index]
    say("\nAtlas UI: " + status.url)
    say(f"   user: {status.user}   password: {status.password}")
    say(f"   the model: {status.url}/index.html#!/detailPage/{model_guid}?tabActive=lineage")
    say("   stop the server with: make server-stop   (or .venv/bin/atlas-ml server stop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
