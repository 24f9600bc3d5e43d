"""Re-run the release check of every release context recorded on a model (its `ml_release` entities) and
write the verdict back only when it changed.

Idempotent by construction: a verdict equal to the recorded one is neither written nor alerted, so a batch
processed twice (a restart before its offsets were committed) alerts once. The alerts of a batch go out before
its write-back: a crash between the two repeats those alerts on restart rather than losing them.

REST calls for a batch of N models, in bulk: the models with their relationships and their releases (two
reads in chunks of GUID_CHUNK), their evidence (policy/gather.py collect_evidence_many: one read of the
sources their tags name and one lineage read per source they share), and the changed verdicts
(policy/writeback.py write_back_many: entity and tag writes of 100 each, one bulk re-read). A retraction that
reaches 300 models costs about a dozen calls, whatever N; only a model that shares no tagged source with the
others in its batch is read on its own (a few calls).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.errors import AtlasNotFoundError
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.model.assets import NAMES_NORMALIZED
from atlas_mlplugin.policy.acceptance import acceptances_on_entity
from atlas_mlplugin.policy.evaluate import evaluate
from atlas_mlplugin.policy.gather import collect_evidence, collect_evidence_many
from atlas_mlplugin.policy.model import Acceptance, CheckReport, IgnoredAcceptance, ReleaseContext
from atlas_mlplugin.policy.rules import Policy
from atlas_mlplugin.policy.writeback import summary, write_back, write_back_many
from atlas_mlplugin.reads.entities import count_requests
from atlas_mlplugin.scrubbing import logger
from atlas_mlplugin.watch.alerts import Alert, AlertSink, TagAlert, VerdictAlert, alert_text

log = logger(__name__)
GUID_CHUNK = 100  # guids per bulk GET: ~4 KB of query string, well inside Jetty's URL limit


@dataclass(frozen=True)
class RecordedRelease:
    """A release context as the last check recorded it on an `ml_release`, with the acceptances an officer
    attached to that release (check_model applies them too)."""

    qualified_name: str
    context: ReleaseContext
    verdict: str | None
    summary: str | None
    acceptances: tuple[Acceptance, ...] = ()
    ignored_acceptances: tuple[IgnoredAcceptance, ...] = ()
    checked_time: int | None = None  # epoch ms of the recorded check


@dataclass(frozen=True)
class WatchedModel:
    guid: str
    qualified_name: str
    name: str
    releases: tuple[RecordedRelease, ...]
    entity: dict[str, Any] = field(default_factory=dict, compare=False)  # as read, with its classifications


@dataclass
class RecheckStats:
    models: int = 0
    contexts: int = 0
    changed: int = 0
    rest_calls: int = 0
    read_calls: int = 0  # the models and their releases
    gather_calls: int = 0  # their evidence
    write_calls: int = 0  # the changed verdicts
    lineage_reads: int = 0
    one_by_one: int = 0  # models gathered or tagged on their own (see policy/gather.py, writeback.py)
    restored: int = 0  # ReleaseVerdict tags removed by hand and written again
    alerts: list[Alert] = field(default_factory=list)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def recorded_release(attributes: dict[str, Any], classifications: Iterable[dict[str, Any]] = (),
                     guid: str | None = None) -> RecordedRelease | None:
    """The context of one ml_release's attributes (and the RiskAccepted on it, when its classifications and
    guid are given); None for one our check did not write (no audience)."""
    audience = attributes.get("audience")
    if audience not in ("internal", "partner", "public"):
        return None
    ships = attributes.get("ships") or ["weights"]
    try:
        # A purpose stored before purposes were checked is kept as it is, as check reads it (model/assets.py).
        context = ReleaseContext.model_validate(
            {"audience": audience, "commercial": bool(attributes.get("commercial")), "ships": frozenset(ships),
             "purpose": attributes.get("purpose") or None}, context={NAMES_NORMALIZED: True})
    except ValidationError as exc:  # edited by hand: skip it rather than fail (and replay) the batch forever
        log.warning("ml_release %s holds a context the check cannot use; not re-checked: %s",
                    attributes.get(n.QUALIFIED_NAME), exc)
        return None
    qualified_name = str(attributes.get(n.QUALIFIED_NAME))
    accepted, ignored = acceptances_on_entity(classifications, guid, qualified_name) if guid else ([], [])
    return RecordedRelease(qualified_name=qualified_name, context=context, verdict=attributes.get("verdict"),
                           summary=attributes.get(n.DESCRIPTION), acceptances=tuple(accepted),
                           ignored_acceptances=tuple(ignored),
                           checked_time=checked if isinstance(checked := attributes.get("checkedTime"), int) else None)


def load_models(client: AtlasClient, guids: Sequence[str]) -> tuple[list[WatchedModel], int]:
    """The models behind `guids` with their recorded releases, in bulk; and the REST calls it took.
    Guids no longer in Atlas, or deleted, are left out."""
    calls = 0
    models: list[tuple[dict[str, Any], list[str]]] = []
    for chunk in _chunks(list(guids), GUID_CHUNK):
        calls += 1
        try:
            found = client.get_entities(chunk, min_ext_info=True).get("entities", [])
        except AtlasNotFoundError:
            # One guid purged since its notification fails Atlas's whole bulk read (404): read the chunk
            # one by one so that the others are still re-checked, and the batch does not fail forever.
            found = []
            for guid in chunk:
                calls += 1
                try:
                    found.append(client.get_entity(guid, min_ext_info=True)["entity"])
                except AtlasNotFoundError:
                    log.info("model %s is no longer in Atlas; nothing to re-check", guid)
        for entity in found:
            if entity.get("status") == "DELETED":
                continue
            refs = (entity.get("relationshipAttributes") or {}).get(n.MODEL_RELEASES) or []
            models.append((entity, [r["guid"] for r in refs if r.get("guid")
                                    and r.get("relationshipStatus", "ACTIVE") == "ACTIVE"]))
    release_guids = [g for _, refs in models for g in refs]
    releases: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(release_guids, GUID_CHUNK):
        calls += 1
        for entity in client.get_entities(chunk, min_ext_info=True, ignore_relationships=True).get("entities", []):
            if entity.get("status") != "DELETED":
                releases[entity["guid"]] = entity
    watched = []
    for entity, refs in models:
        attributes = entity.get("attributes") or {}
        recorded = [recorded_release(releases[g].get("attributes") or {}, releases[g].get("classifications") or [],
                                     g) for g in refs if g in releases]
        qualified_name = str(attributes.get(n.QUALIFIED_NAME))
        watched.append(WatchedModel(guid=entity["guid"], qualified_name=qualified_name,
                                    name=str(attributes.get(n.NAME) or qualified_name),
                                    releases=tuple(sorted((r for r in recorded if r is not None),
                                                          key=lambda r: r.qualified_name)),
                                    entity=entity))
    return watched, calls


def changed(release: RecordedRelease, report: CheckReport) -> bool:
    """Worth recording and saying: another verdict, or the same one for other reasons (a second blocker)."""
    return release.verdict != report.verdict or release.summary != summary(report)


def alert_of(model: WatchedModel, release: RecordedRelease, report: CheckReport,
             event_time_ms: int | None = None) -> VerdictAlert:
    serious = [f for f in report.findings if f.severity in ("BLOCK", "WARN")]
    sources = sorted({f.source_qualified_name for f in serious if f.source_qualified_name})
    text = summary(report)
    return VerdictAlert(
        model=model.qualified_name, model_guid=model.guid, release=release.qualified_name,
        audience=report.context.audience, commercial=report.context.commercial,
        previous_verdict=release.verdict, verdict=report.verdict, summary=text,
        blocked_by=sorted({f.rule_id for f in report.findings if f.severity == "BLOCK"}), sources=sources,
        checked_at=report.checked_at,
        event_time=datetime.fromtimestamp(event_time_ms / 1000, timezone.utc) if event_time_ms else None,
        text=alert_text(model.qualified_name, report.context.audience, report.context.commercial,
                        release.verdict, report.verdict, text, sources))


def has_verdict_tag(entity: dict[str, Any]) -> bool:
    return verdict_shown(entity) is not None


def verdict_shown(entity: dict[str, Any]) -> str | None:
    """The verdict the model's own ReleaseVerdict tag shows ("" when it has none set); None without the tag."""
    guid = entity.get("guid")
    tag = next((c for c in entity.get("classifications") or []
                if c.get("typeName") == n.RELEASE_VERDICT and (c.get("entityGuid") or guid) == guid), None)
    return None if tag is None else str((tag.get("attributes") or {}).get("verdict") or "")


def restored_alert(model: WatchedModel, release: RecordedRelease, report: CheckReport,
                   event_time_ms: int | None = None, *, removed: bool = True) -> TagAlert:
    terms = "commercial" if report.context.commercial else "non-commercial"
    facts = f"the recorded {report.context.audience} {terms} release decision ({release.qualified_name})"
    what = "was removed by hand" if removed else "did not show the recorded verdict (edited by hand, or an " \
                                                 "interrupted write-back)"
    return TagAlert(
        kind="derived_tag_restored", entity=model.qualified_name, entity_guid=model.guid, entity_type=n.ML_MODEL,
        tag=n.RELEASE_VERDICT, facts=facts, checked_at=report.checked_at,
        event_time=datetime.fromtimestamp(event_time_ms / 1000, timezone.utc) if event_time_ms else None,
        text=f"[atlas-ml] {model.qualified_name}: its {n.RELEASE_VERDICT} tag {what}; restored "
             f"({report.verdict}) from {facts}. The tag follows from the release check: to change it, record an "
             "acceptance or fix the data and let the check run.")


def recheck(client: AtlasClient, guids: Sequence[str], policy: Policy, sinks: Sequence[AlertSink], *,
            event_times: dict[str, int] | None = None, now: datetime | None = None,
            bulk: bool = True) -> RecheckStats:
    """Re-check each model of `guids` once in every release context recorded on it; alert, then write back
    the contexts whose verdict changed. Raises what a sink raises (AlertDeliveryError) before anything is
    written, so that the caller does not commit and the batch is processed again. `bulk=False` gathers and
    writes model by model, as `check --record` does (the benchmark's baseline)."""
    stats = RecheckStats()
    models, stats.read_calls = load_models(client, guids)
    stats.models = len(models)
    watched = [m for m in models if m.releases]  # never checked with --record: no context to re-check in
    if bulk:
        gathered = collect_evidence_many(client, [m.entity for m in watched])
        evidence = gathered.evidence
        stats.gather_calls, stats.lineage_reads, stats.one_by_one = (gathered.rest_calls, gathered.lineage_reads,
                                                                     gathered.fallbacks)
    else:
        evidence = {}
        for model in watched:
            evidence[model.guid] = collect_evidence(client, model.qualified_name)
            stats.gather_calls += evidence[model.guid].rest_calls
    checked_at = now or datetime.now(timezone.utc)
    to_write: list[tuple[CheckReport, str | None]] = []
    for model in watched:
        latest: tuple[RecordedRelease, CheckReport] | None = None
        model_changed = False
        for release in model.releases:
            stats.contexts += 1
            report = evaluate(evidence[model.guid], release.context, policy, now=checked_at,
                              acceptances=release.acceptances, ignored_acceptances=release.ignored_acceptances)
            if latest is None or (release.checked_time or 0) >= (latest[0].checked_time or 0):
                latest = (release, report)
            if not changed(release, report):
                continue
            model_changed = True
            alert: Alert = alert_of(model, release, report, (event_times or {}).get(model.guid))
            for sink in sinks:
                sink.send(alert)
            stats.changed += 1
            stats.alerts.append(alert)
            log.info("%s", alert.text)
            to_write.append((report, model.name))
        shown = verdict_shown(model.entity)
        if latest is not None and not model_changed and shown != latest[0].verdict:
            # The tag follows from the recorded decisions: someone removed or edited it by hand (the UI allows
            # both), or a write-back stopped between the release and the tag. Write the latest decision again,
            # which puts the tag right, and say so.
            alert = restored_alert(model, latest[0], latest[1], (event_times or {}).get(model.guid),
                                   removed=shown is None)
            for sink in sinks:
                sink.send(alert)
            stats.restored += 1
            stats.alerts.append(alert)
            log.info("%s", alert.text)
            to_write.append((latest[1], model.name))
    if to_write and bulk:
        written = write_back_many(client, to_write)
        stats.write_calls = written.rest_calls
        stats.one_by_one += written.one_by_one
    elif to_write:
        with count_requests(client) as calls:
            for report, name in to_write:
                write_back(client, report, model_name=name)
        stats.write_calls = calls[0]
    stats.rest_calls = stats.read_calls + stats.gather_calls + stats.write_calls
    log.info("re-checked %d models (%d contexts, %d changed) in %d REST calls: %d reads, %d evidence "
             "(%d lineage), %d writes", stats.models, stats.contexts, stats.changed, stats.rest_calls,
             stats.read_calls, stats.gather_calls, stats.lineage_reads, stats.write_calls)
    return stats
