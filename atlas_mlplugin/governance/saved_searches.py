"""Saved searches a governance officer opens in one click from the Atlas UI's "Favorite searches" panel.

Atlas keeps saved searches per user (`/api/atlas/v2/search/saved`, an AtlasUserSavedSearch each): a name, a
search type (BASIC ones are listed under basic search, ADVANCED ones under DSL search) and the
SearchParameters that `POST /v2/search/basic` takes. The classic UI (dashboardv2) turns the stored
parameters back into its search form (CommonViewFunction.generateUrlFromSaveSearchObject), so what we store
is exactly what the UI itself stores when an officer clicks "Save as".

Three facts of Atlas 2.1 shape this module:
- Atlas lets a user write only their own saved searches (EntityDiscoveryService.checkSavedSearchOwnership
  refuses any other ownerName), so the searches go to the user the client logs in as; each officer runs
  `atlas-ml ui searches` once with their own credentials.
- A saved search stores fixed filter values; 2.1 has no relative date operator. "Expires within 30 days" is
  therefore two dates computed when the searches are installed: re-running the command (daily, e.g. from
  cron) moves them. Installing is idempotent: a search already as wanted is left alone, a changed one is
  updated in place (same guid, so the officer's panel keeps it), none is duplicated.
- Basic search by classification matches propagated copies too. That is how "models built on retracted
  data" is one search: every DataSet carrying a Retracted tag, its own or one propagated along lineage.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.scrubbing import logger

log = logger(__name__)

SAVED_SEARCH_API = "/v2/search/saved"
# Every search we install starts so, which tells ours apart from the officer's own (only ours are pruned).
PREFIX = "ML governance: "
EXPIRY_WINDOW_DAYS = 30
# The UI's default page size: the stored limit becomes the result page size when an officer opens one.
PAGE_SIZE = 25

BLOCKED_PUBLIC = PREFIX + "models blocked for public release"
RETRACTED = PREFIX + "retracted datasets and models built on them (Retracted, incl. propagated)"
UNKNOWN_LICENSE = PREFIX + "datasets with unknown license"
EXPIRING_ACCEPTANCES = PREFIX + "accepted risks expiring within 30 days"


class SavedSearch(BaseModel):
    """One saved search as we want it in Atlas."""

    model_config = ConfigDict(frozen=True)
    name: str
    shows: str = Field(description="What the officer sees, for the command's output and the docs")
    search_type: Literal["BASIC", "ADVANCED"] = "BASIC"
    parameters: dict[str, Any] = Field(description="Atlas SearchParameters, as POST /v2/search/basic takes")


class StoredSearch(BaseModel):
    """An AtlasUserSavedSearch as Atlas returns it (only what we use)."""

    model_config = ConfigDict(extra="ignore")
    guid: str
    name: str
    ownerName: str | None = None  # noqa: N815 - Atlas's field name
    searchType: str = "BASIC"  # noqa: N815
    searchParameters: dict[str, Any] = Field(default_factory=dict)  # noqa: N815
    uiParameters: str | None = None  # noqa: N815


class InstallReport(BaseModel):
    """What `install_officer_searches` did, by search name."""

    owner: str | None
    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)

    def lines(self) -> Iterator[str]:
        for verb, names in (("created", self.created), ("updated", self.updated), ("up to date", self.unchanged),
                            ("removed", self.removed)):
            for name in names:
                yield f"{verb}: {name}"


def _epoch_ms(day: date) -> str:
    # Atlas compares a date attribute with the filter value parsed as epoch milliseconds.
    return str(int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000))


def _criterion(attribute: str, operator: str, value: str) -> dict[str, str]:
    # Operators in Atlas's own spelling ("=", ">="): Atlas stores and echoes that form, so a stored search
    # compares equal to ours and a re-run changes nothing.
    return {"attributeName": attribute, "operator": operator, "attributeValue": value}


def _params(type_name: str | None = None, classification: str | None = None, *, attributes: list[str],
            entity_filters: dict[str, Any] | None = None, tag_filters: dict[str, Any] | None = None,
            classification_attributes: bool = False) -> dict[str, Any]:
    params: dict[str, Any] = {"excludeDeletedEntities": True, "includeSubTypes": True,
                              "includeSubClassifications": True,
                              "includeClassificationAttributes": classification_attributes,
                              "limit": PAGE_SIZE, "offset": 0, "attributes": attributes}
    for key, value in (("typeName", type_name), ("classification", classification),
                       ("entityFilters", entity_filters), ("tagFilters", tag_filters)):
        if value is not None:
            params[key] = value
    return params


def officer_searches(today: date) -> list[SavedSearch]:
    """The four searches of an officer's daily questions, with date filters computed for `today` (UTC)."""
    window_end = today + timedelta(days=EXPIRY_WINDOW_DAYS)
    return [
        SavedSearch(
            name=BLOCKED_PUBLIC,
            shows="the release decisions (one per model and terms) whose public-release check said BLOCK; the "
                  "model column links to the model",
            # On ml_release, not on the model's ReleaseVerdict tag: a model holds one such tag, the latest
            # check of any audience, while each release entity keeps the decision for its own context.
            parameters=_params(n.ML_RELEASE, attributes=[n.RELEASE_MODEL, "verdict", "commercial", "checkedTime"],
                               entity_filters={"condition": "AND", "criterion": [
                                   _criterion("verdict", "=", "BLOCK"), _criterion("audience", "=", "public")]})),
        SavedSearch(
            name=RETRACTED,
            shows="every dataset and model carrying a Retracted tag: the retracted datasets themselves and, "
                  "through the propagated tag, every dataset and model built on them",
            # DataSet with subtypes: ml_dataset and ml_model (and other DataSets downstream); the training
            # runs between them carry the propagated tag too but are not what an officer asks for.
            parameters=_params("DataSet", n.RETRACTED, attributes=[n.DESCRIPTION])),
        SavedSearch(
            name=UNKNOWN_LICENSE,
            shows="datasets tagged UnknownLicense: registered without a license or with one not in the license "
                  "catalog, inputs nobody registered, and datasets derived from those",
            # A dataset registered without a license gets UnknownLicense (mapping/tags.py), so the tag
            # covers "no license" too; one search, no OR across tag and attribute (basic search lacks it).
            parameters=_params(n.ML_DATASET, n.UNKNOWN_LICENSE, attributes=["declaredLicense", "creator"])),
        SavedSearch(
            name=EXPIRING_ACCEPTANCES,
            shows=f"models and release decisions whose RiskAccepted expires between {today.isoformat()} and "
                  f"{window_end.isoformat()} (fixed dates: re-run `atlas-ml ui searches` daily to move them)",
            parameters=_params(classification=n.RISK_ACCEPTED, attributes=[n.DESCRIPTION],
                               classification_attributes=True,
                               tag_filters={"condition": "AND", "criterion": [
                                   _criterion("expiryDate", ">=", _epoch_ms(today)),
                                   _criterion("expiryDate", "<=", _epoch_ms(window_end))]})),
    ]


def _canonical(params: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    # Atlas keeps `attributes` as a set (order not kept) and adds defaults we did not send: compare only
    # what we send, order-free.
    out = {key: params.get(key) for key in keys}
    if isinstance(out.get("attributes"), list):
        out["attributes"] = sorted(out["attributes"])
    return out


def same_search(wanted: SavedSearch, stored: StoredSearch) -> bool:
    keys = set(wanted.parameters)
    return (stored.searchType == wanted.search_type
            and _canonical(stored.searchParameters, keys) == _canonical(wanted.parameters, keys))


def stored_searches(client: AtlasClient) -> list[StoredSearch]:
    """The logged-in user's saved searches (Atlas answers 204, no body, when there are none)."""
    found = client.request("GET", SAVED_SEARCH_API) or []
    return [StoredSearch.model_validate(item) for item in found]


def install_officer_searches(client: AtlasClient, *, today: date | None = None,
                             prune: bool = True) -> InstallReport:
    """Create or update the officer searches for the user the client logs in as; with `prune`, remove
    searches of ours (name starting with PREFIX) that this version no longer defines."""
    today = today or datetime.now(timezone.utc).date()
    wanted = officer_searches(today)
    by_name = {s.name: s for s in stored_searches(client)}
    report = InstallReport(owner=client.settings.username)
    for search in wanted:
        body: dict[str, Any] = {"name": search.name, "searchType": search.search_type,
                                "searchParameters": search.parameters}
        stored = by_name.get(search.name)
        if stored is None:
            client.request("POST", SAVED_SEARCH_API, json=body)
            report.created.append(search.name)
        elif same_search(search, stored):
            report.unchanged.append(search.name)
        else:
            # Same guid and owner: the UI's panel keeps the entry (a delete and create would not).
            client.request("PUT", SAVED_SEARCH_API, json={**body, "guid": stored.guid, "ownerName": stored.ownerName,
                                                          "uiParameters": stored.uiParameters})
            report.updated.append(search.name)
    if prune:
        current = {s.name for s in wanted}
        for name, stored in by_name.items():
            if name.startswith(PREFIX) and name not in current:
                client.request("DELETE", f"{SAVED_SEARCH_API}/{stored.guid}")
                report.removed.append(name)
    log.info("saved searches of %s: %d created, %d updated, %d up to date, %d removed", report.owner,
             len(report.created), len(report.updated), len(report.unchanged), len(report.removed))
    return report


def run_saved_search(client: AtlasClient, parameters: dict[str, Any], *, offset: int = 0,
                     limit: int = PAGE_SIZE) -> dict[str, Any]:
    """One page of a saved search's results, as the UI gets them (POST /v2/search/basic)."""
    result = client.request("POST", "/v2/search/basic", json={**parameters, "offset": offset, "limit": limit})
    return result or {}
