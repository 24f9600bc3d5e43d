"""Re-run the release check of every release context recorded on a model (its `ml_release` entities) and
write the verdict back only when it changed.

Idempotent by construction: a verdict equal to the recorded one is neither written nor alerted, so a batch
processed twice (a restart before its offsets were committed) alerts once. The alert goes out before the
write-back: a crash between the two repeats that one alert on restart rather than losing it.

REST calls for a batch of N models: two bulk reads in chunks of GUID_CHUNK (the models with their
relationships, then their releases), the evidence of each model once (policy/gather.py; shared by all its
release contexts), and two writes per changed verdict.
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
from atlas_mlplugin.policy.evaluate import evaluate
from atlas_mlplugin.policy.gather import collect_evidence
from atlas_mlplugin.policy.model import CheckReport, ReleaseContext
from atlas_mlplugin.policy.rules import Policy
from atlas_mlplugin.policy.writeback import summary, write_back
from atlas_mlplugin.scrubbing import logger
from atlas_mlplugin.watch.alerts import AlertSink, VerdictAlert, alert_text

log = logger(__name__)
GUID_CHUNK = 100  # guids per bulk GET: ~4 KB of query string, well inside Jetty's URL limit


@dataclass(frozen=True)
class RecordedRelease:
    """A release context as the last check recorded it on an `ml_release`."""

    qualified_name: str
    context: ReleaseContext
    verdict: str | None
    summary: str | None


@dataclass(frozen=True)
class WatchedModel:
    guid: str
    qualified_name: str
    name: str
    releases: tuple[RecordedRelease, ...]


@dataclass
class RecheckStats:
    models: int = 0
    contexts: int = 0
    changed: int = 0
    rest_calls: int = 0
    alerts: list[VerdictAlert] = field(default_factory=list)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def recorded_release(attributes: dict[str, Any]) -> RecordedRelease | None:
    """The context of one ml_release's attributes; None for one our check did not write (no audience)."""
    audience = attributes.get("audience")
    if audience not in ("internal", "partner", "public"):
        return None
    ships = attributes.get("ships") or ["weights"]
    try:
        context = ReleaseContext(audience=audience, commercial=bool(attributes.get("commercial")),
                                 ships=frozenset(ships))
    except ValidationError as exc:  # edited by hand: skip it rather than fail (and replay) the batch forever
        log.warning("ml_release %s holds a context the check cannot use; not re-checked: %s",
                    attributes.get(n.QUALIFIED_NAME), exc)
        return None
    return RecordedRelease(qualified_name=str(attributes.get(n.QUALIFIED_NAME)), context=context,
                           verdict=attributes.get("verdict"), summary=attributes.get(n.DESCRIPTION))


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
                releases[entity["guid"]] = entity.get("attributes") or {}
    watched = []
    for entity, refs in models:
        attributes = entity.get("attributes") or {}
        recorded = [recorded_release(releases[g]) for g in refs if g in releases]
        qualified_name = str(attributes.get(n.QUALIFIED_NAME))
        watched.append(WatchedModel(guid=entity["guid"], qualified_name=qualified_name,
                                    name=str(attributes.get(n.NAME) or qualified_name),
                                    releases=tuple(sorted((r for r in recorded if r is not None),
                                                          key=lambda r: r.qualified_name))))
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


def recheck(client: AtlasClient, guids: Sequence[str], policy: Policy, sinks: Sequence[AlertSink], *,
            event_times: dict[str, int] | None = None, now: datetime | None = None) -> RecheckStats:
    """Re-check each model of `guids` once in every release context recorded on it; alert and write back
    the contexts whose verdict changed. Raises what a sink raises (AlertDeliveryError), leaving the rest
    unwritten, so that the caller does not commit and the batch is processed again."""
    stats = RecheckStats()
    models, stats.rest_calls = load_models(client, guids)
    for model in models:
        stats.models += 1
        if not model.releases:
            continue  # never checked with --record: no context to re-check in
        evidence = collect_evidence(client, model.qualified_name)
        stats.rest_calls += evidence.rest_calls
        for release in model.releases:
            stats.contexts += 1
            report = evaluate(evidence, release.context, policy, now=now or datetime.now(timezone.utc))
            if not changed(release, report):
                continue
            alert = alert_of(model, release, report, (event_times or {}).get(model.guid))
            for sink in sinks:
                sink.send(alert)
            write_back(client, report, model_name=model.name)
            stats.rest_calls += 2
            stats.changed += 1
            stats.alerts.append(alert)
            log.info("%s", alert.text)
    return stats
