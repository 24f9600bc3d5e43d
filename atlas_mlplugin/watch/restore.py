"""Tags that follow from facts, removed by hand: put back from the facts, or reported.

Atlas lets anyone with the right permission remove a tag in the UI, including the ones the governance layer
derives. A removed `Retracted` would silently lift the BLOCK of every model built on the dataset (Atlas
removes the propagated copies too), so watch restores it, before the models re-check in the same batch,
from the dataset's own retraction attributes (retractionStatus, -Reason, -Date, -NoticeUrl, which
`atlas-ml dataset retract` writes and the UI does not touch when a tag is removed). A model's
`ReleaseVerdict` is restored by the re-check itself (recheck.py). Atlas does not let a propagated tag be
removed from one entity; its copies go when propagation is blocked or switched off on the way, and the
model's re-check then reports the changed verdict like any other change.

The notification of a removal names the entity and the tags it still has, not the one removed, so what is
missing is found by comparing the entity's facts with its tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from pydantic import ValidationError

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.tags import RETRACTION_TAG_TYPES, retraction_tags
from atlas_mlplugin.model.assets import Retraction
from atlas_mlplugin.policy.acceptance import date_of_epoch_ms
from atlas_mlplugin.reads.entities import count_requests
from atlas_mlplugin.scrubbing import logger
from atlas_mlplugin.watch.alerts import AlertSink, TagAlert

log = logger(__name__)
GUID_CHUNK = 100


def restore_retractions(client: AtlasClient, guids: Sequence[str], sinks: Sequence[AlertSink], *,
                        event_times: dict[str, int] | None = None) -> tuple[list[TagAlert], int]:
    """Put `Retracted` back on each dataset of `guids` whose attributes say it is retracted but that lacks
    the tag; alert first (a crash before the write repeats the alert, never loses it). Returns the alerts and
    the REST calls it took."""
    alerts: list[TagAlert] = []
    registry = GovernanceRegistry(client)
    with count_requests(client) as calls:
        for start in range(0, len(guids), GUID_CHUNK):
            chunk = list(guids[start:start + GUID_CHUNK])
            found = client.get_entities(chunk, min_ext_info=True, ignore_relationships=True).get("entities") or []
            for entity in found:
                guid, attributes = entity["guid"], entity.get("attributes") or {}
                if entity.get("status") == "DELETED" or attributes.get("retractionStatus") != "retracted":
                    continue
                if any(c.get("typeName") == n.RETRACTED and (c.get("entityGuid") or guid) == guid
                       for c in entity.get("classifications") or []):
                    continue
                qualified_name = str(attributes.get(n.QUALIFIED_NAME))
                try:
                    retraction = Retraction(reason=attributes.get("retractionReason") or "not recorded",
                                            date=date_of_epoch_ms(attributes.get("retractionDate")),
                                            notice_url=attributes.get("retractionNoticeUrl") or None)
                except ValidationError as exc:
                    log.warning("dataset %s is marked retracted but its retraction cannot be read (%s); its "
                                "Retracted tag is not restored: run `atlas-ml dataset retract` again", qualified_name,
                                exc)
                    continue
                when = (event_times or {}).get(guid)
                alert = TagAlert(
                    kind="derived_tag_restored", entity=qualified_name, entity_guid=guid,
                    entity_type=str(entity.get("typeName")), tag=n.RETRACTED,
                    facts=f"the dataset's retraction ({retraction.reason}, {retraction.date or 'date not recorded'})",
                    checked_at=datetime.now(timezone.utc),
                    event_time=datetime.fromtimestamp(when / 1000, timezone.utc) if when else None,
                    text=f"[atlas-ml] {qualified_name}: its {n.RETRACTED} tag was removed by hand while the dataset "
                         f"is still recorded as retracted ({retraction.reason}); restored, so models built on it "
                         "stay blocked. To lift a retraction, register the dataset again without it.")
                for sink in sinks:
                    sink.send(alert)
                registry.sync_derived_tags(guid, retraction_tags(qualified_name, retraction), RETRACTION_TAG_TYPES)
                alerts.append(alert)
                log.info("%s", alert.text)
    return alerts, calls[0]
