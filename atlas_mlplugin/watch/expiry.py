"""Acceptances that expire: the models whose verdict may change because a day passed, not because a tag did.

An accepted risk holds until the end of its `expiryDate` (UTC); from the next day the same facts give another
verdict (policy/acceptance.py recheck_after). Nothing is published on ATLAS_ENTITIES when that day comes, so
watch looks for them itself: when it starts and whenever the UTC date changes, one basic search (paged) finds
the entities holding a `RiskAccepted` whose expiryDate lies before today, models or release decisions, and
their models are re-checked in bulk like any batch. Nothing needs storing between runs: the expiry date is on
the tag, so a restarted watcher finds the same ones, and a re-check whose verdict is already recorded says
nothing (recheck.py), so sweeping the same expired acceptance again repeats no alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.policy.acceptance import epoch_ms_of
from atlas_mlplugin.reads.entities import count_requests

PAGE = 500  # search results per request
GUID_CHUNK = 100


def expired_acceptances(client: AtlasClient, today: date) -> tuple[list[tuple[str, str]], int]:
    """(guid, typeName) of the live entities holding a RiskAccepted whose last day is before `today`, and
    the REST calls it took."""
    found: list[tuple[str, str]] = []
    with count_requests(client) as calls:
        offset = 0
        while True:
            body = {"classification": n.RISK_ACCEPTED, "excludeDeletedEntities": True, "limit": PAGE,
                    "offset": offset, "tagFilters": {"attributeName": "expiryDate", "operator": "lt",
                                                     "attributeValue": str(epoch_ms_of(today))}}
            page = (client.request("POST", "/v2/search/basic", json=body) or {}).get("entities") or []
            found += [(str(e["guid"]), str(e.get("typeName"))) for e in page if e.get("guid")]
            if len(page) < PAGE:
                break
            offset += PAGE
    return found, calls[0]


def models_of_releases(client: AtlasClient, release_guids: Iterable[str]) -> tuple[list[str], int]:
    """The models the release decisions belong to (one bulk read per GUID_CHUNK releases)."""
    guids = sorted(set(release_guids))
    models: list[str] = []
    with count_requests(client) as calls:
        for start in range(0, len(guids), GUID_CHUNK):
            entities = client.get_entities(guids[start:start + GUID_CHUNK], min_ext_info=True).get("entities") or []
            for entity in entities:
                ref = (entity.get("relationshipAttributes") or {}).get(n.RELEASE_MODEL) or {}
                if entity.get("status") != "DELETED" and ref.get("guid") and ref["guid"] not in models:
                    models.append(str(ref["guid"]))
    return models, calls[0]


def due_models(client: AtlasClient, today: date, model_types: Sequence[str] = (n.ML_MODEL,)
               ) -> tuple[list[str], int]:
    """Models to re-check because an acceptance on them, or on one of their release decisions, expired."""
    holders, calls = expired_acceptances(client, today)
    models = [guid for guid, type_name in holders if type_name in model_types]
    owners, more = models_of_releases(client, [guid for guid, type_name in holders if type_name == n.ML_RELEASE])
    return models + [g for g in owners if g not in models], calls + more
