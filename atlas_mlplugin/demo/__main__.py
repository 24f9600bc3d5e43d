"""`make demo`: a local Atlas, our types, a catalog applied with `atlas-ml apply`, a model trained under
`track_training`, and what the model inherits from its data, with the sources.

Idempotent: running it again re-uses the running server, and the catalog apply then changes nothing.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import SecretStr

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.atlas.typedefs import apply
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.hooks import track_training
from atlas_mlplugin.hooks.training import default_deliverer
from atlas_mlplugin.model import DatasetSpec
from atlas_mlplugin.reads import tags_of
from atlas_mlplugin.server.errors import LauncherError
from atlas_mlplugin.server.launcher import LocalAtlas

SCENES = "file:///data/street-scenes/v2"
CAPTIONS = "file:///data/open-captions/v1"
FINE_TUNED = "file:///models/scene-captioner/1.0"  # story.yaml: fine-tuned from scene-base
CHATS_ANON = "file:///data/support-chats-anon/2024-q1"


def say(msg: str = "") -> None:
    print(msg, flush=True)


def atlas_ml(*args: str, expect: int = 0) -> None:
    """Run the real CLI, as a user would, and show its output."""
    say(f"   $ atlas-ml {' '.join(args)}")
    result = subprocess.run([sys.executable, "-m", "atlas_mlplugin.cli", *args], capture_output=True, text=True,
                            check=False)
    for line in (result.stdout + result.stderr).strip().splitlines():
        say(f"     {line}")
    if result.returncode != expect:
        raise SystemExit(f"atlas-ml {args[0]} exited with {result.returncode}, expected {expect}")


def train_model(out_dir: Path) -> Path:
    """A stand-in for real training code: any Python works under track_training."""
    with track_training("train scene-intent", inputs=[SCENES, CAPTIONS, CHATS_ANON],
                        params={"epochs": 3, "lr": 0.01}, purpose="model-training", framework="plain-python",
                        run_id="demo-scene-intent") as run:
        weights = {"bias": 0.0}
        for epoch in range(3):
            weights["bias"] += 0.01 * (1 - weights["bias"])
            run.log_param(f"loss_epoch_{epoch}", round(1 - weights["bias"], 4))
        model_path = out_dir / "scene-intent.pkl"
        model_path.write_bytes(pickle.dumps(weights))
        run.set_model(path=model_path, name="scene-intent", type_of_model="multimodal classifier", version="1")
    default_deliverer().flush(timeout=60)  # deliver anything that had to wait, before we read it back
    return model_path


REPO = Path(__file__).resolve().parents[2]
LISTENER_JAR = REPO / "spark_listener" / "target" / "2.13" / "atlas-mlplugin-spark-listener_2.13-0.1.0.jar"


def spark_story(home: Path, registry: GovernanceRegistry) -> str | None:
    """A Spark ETL captured by the JVM listener (configuration only) and a PySpark model (autolog)."""
    say("\n5b. A Spark job: ETL captured by the listener jar, a PySpark model by autolog")
    if not LISTENER_JAR.is_file():
        say(f"   skipped: {LISTENER_JAR} is missing (`make listener` builds it)")
        return None
    lake, spool = home / "lake", home / "spark-spool"
    (lake / "raw").mkdir(parents=True, exist_ok=True)
    (lake / "raw/boxes.csv").write_text("frame,boxes,crowded\n" + "".join(
        f"{i},{i % 9},{int(i % 9 > 4)}\n" for i in range(60)))
    (lake / "raw/weather.csv").write_text("frame,rain\n" + "".join(f"{i},{i % 3}\n" for i in range(60)))
    registry.register_dataset(DatasetSpec(
        qualified_name=(lake / "raw/boxes.csv").as_uri(), name="scene-boxes", license="CC-BY-NC-4.0",
        creator="Urban Vision Lab", description="Pedestrian box counts per frame, from street-scenes."))
    job = subprocess.run([sys.executable, "-m", "atlas_mlplugin.demo.spark_job", str(LISTENER_JAR), str(spool),
                          str(lake)], capture_output=True, text=True, check=False)
    if job.returncode != 0:
        raise SystemExit(f"the demo's Spark job failed:\n{job.stderr[-2000:]}")
    default_deliverer().flush(timeout=60)
    say(f"   the listener wrote {len(list(spool.glob('*.json')))} OpenLineage event(s) to {spool}")
    atlas_ml("ingest", str(spool))
    model_qn = (lake / "models/crowd-detector").as_uri()
    for tag in tags_of(registry.client, model_qn):
        say(f"   {tag.type_name:<20} from {tag.source_qualified_name}")
    atlas_ml("lineage", model_qn)
    return model_qn


@dataclass(frozen=True)
class UiTour:
    """What the demo built, by the Atlas UI's addresses: the closing words send an officer to each."""

    url: str
    user: str
    password: str
    model_name: str
    model_guid: str
    release_name: str | None
    release_guid: str | None
    searches: Sequence[str]
    propagated_tag: str | None  # a tag the model inherited, to show where it came from
    propagated_from: str | None  # the dataset it came from


def page(url: str, guid: str, tab: str | None = None) -> str:
    """A direct link to an entity's page in the Atlas UI (dashboardv2 routes #!/detailPage/<guid>; its tabs
    open with ?tabActive=<tab role>: properties, lineage, relationship, classification, audit)."""
    return f"{url}/index.html#!/detailPage/{guid}" + (f"?tabActive={tab}" if tab else "")


def where_to_look(tour: UiTour) -> list[str]:
    """The demo's closing words: where an officer looks in the Atlas UI, and at what."""
    lines = [f"Where to look in the Atlas UI: {tour.url}/index.html",
             f"   log in as {tour.user}, password {tour.password}",
             f"   the model {tour.model_name}: {page(tour.url, tour.model_guid)}",
             "      Properties: governanceVerdict and governanceSummary (the latest check), attributionNotice",
             f"      Lineage tab: {page(tour.url, tour.model_guid, 'lineage')}",
             "         datasets -> training run -> model; PersonalData stops at the attested anonymization step",
             f"      Classifications tab: {page(tour.url, tour.model_guid, 'classification')}"]
    if tour.propagated_tag:
        source = f" (from {tour.propagated_from})" if tour.propagated_from else ""
        lines.append(f"         click 'Propagated From' beside {tour.propagated_tag}{source}: the dataset it came "
                     "from; the tag's name opens every entity that carries it")
    if tour.release_guid:
        lines.append(f"   the release decision {tour.release_name}: {page(tour.url, tour.release_guid)}")
        lines.append("      its verdict and findings; attach RiskAccepted here to accept a risk for this release only")
    if tour.searches:
        lines.append("   saved searches: Search > Basic > Favorite searches (refresh: atlas-ml ui searches)")
        lines += [f"      - {name}" for name in tour.searches]
    return lines


def ui_tour(client: AtlasClient, status_url: str, user: str, password: str, model_qn: str) -> UiTour:
    """Look up the guids and names the closing words link to (the check recorded the public commercial
    release; `atlas-ml ui searches` installed the searches for this user)."""
    from atlas_mlplugin.governance.saved_searches import PREFIX, stored_searches
    from atlas_mlplugin.policy.accepting import release_qualified_name
    from atlas_mlplugin.policy.model import ReleaseContext

    model = (client.find_entity("ml_model", model_qn) or {}).get("entity") or {}
    release_qn = release_qualified_name(model_qn, ReleaseContext(audience="public", commercial=True))
    release = (client.find_entity("ml_release", release_qn) or {}).get("entity") or {}
    inherited = [t for t in tags_of(client, model_qn) if not t.direct]
    tag = next((t for t in inherited if t.type_name == "NonCommercial"), inherited[0] if inherited else None)
    return UiTour(url=status_url, user=user, password=password,
                  model_name=str((model.get("attributes") or {}).get("name") or model_qn),
                  model_guid=str(model.get("guid")),
                  release_name=(release.get("attributes") or {}).get("name"), release_guid=release.get("guid"),
                  searches=[s.name for s in stored_searches(client) if s.name.startswith(PREFIX)],
                  propagated_tag=tag.type_name if tag else None,
                  propagated_from=(tag.source_name or tag.source_qualified_name) if tag else None)


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

    say("\n2. Describe the data once, as code: licenses, consent, datasets, an attested anonymization,\n"
        "   a base model and a model fine-tuned from it")
    with resources.as_file(resources.files("atlas_mlplugin.demo").joinpath("story.yaml")) as story:
        atlas_ml("apply", str(story))

    say("\n3. Train a model from plain Python under track_training")
    model_path = train_model(atlas.home)
    model_qn = model_path.resolve().as_uri()
    say(f"   model saved to {model_path}")

    say("\n4. What the model inherits, propagated by Atlas along lineage (sources on the right):")
    registry = GovernanceRegistry(client)
    for tag in tags_of(registry.client, model_qn):
        origin = "direct" if tag.direct else f"from {tag.source_qualified_name}"
        detail = tag.attributes.get("licenseId") or ",".join(tag.attributes.get("categories") or [])
        say(f"   {tag.type_name:<20} {detail:<26} {origin}")
    say("   (support-chats' PersonalData stopped at the attested anonymization step)")

    say("\n   A fine-tuned model inherits from its base model: scene-captioner (story.yaml) starts from scene-base")
    for tag in tags_of(registry.client, FINE_TUNED):
        if tag.type_name == "NonCommercial":
            say(f"   {tag.type_name:<20} {tag.attributes.get('licenseId') or '':<26} from {tag.source_qualified_name}")
            say(f"   {'':<20} via {' -> '.join(tag.path)}")

    say("\n5. The lineage behind it")
    atlas_ml("lineage", model_qn)

    spark_story(atlas.home, registry)

    say("\n6. May it ship publicly, commercially? (exit code 2 = BLOCK, as a CI gate would see it)")
    atlas_ml("check", model_qn, "--audience", "public", "--commercial", "--notice", str(atlas.home / "NOTICE"),
             expect=2)
    say(f"   the verdict is now on the model's page in Atlas; the NOTICE is in {atlas.home / 'NOTICE'}")

    say("\n7. If street-scenes were retracted, what would it reach?")
    atlas_ml("impact", SCENES)

    say("\n8. Saved searches an officer opens in one click (for the user the UI logs in as)")
    atlas_ml("ui", "searches")

    say()
    for line in where_to_look(ui_tour(client, status.url, status.user, status.password, model_qn)):
        say(line)
    say("   stop the server with: make server-stop   (or .venv/bin/atlas-ml server stop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
