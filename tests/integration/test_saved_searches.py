"""The officers' saved searches on the real Atlas: `atlas-ml ui searches` installs them for the logged-in
user, each one (run as the UI runs it) finds what its name promises, and running it again duplicates
nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

import pytest
from click.testing import Result

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.governance.saved_searches import (
    BLOCKED_PUBLIC,
    EXPIRING_ACCEPTANCES,
    PREFIX,
    RETRACTED,
    UNKNOWN_LICENSE,
    install_officer_searches,
    run_saved_search,
    stored_searches,
)
from atlas_mlplugin.model import DatasetSpec, ModelSpec, TrainingRunSpec

pytestmark = pytest.mark.integration

OURS = {BLOCKED_PUBLIC, RETRACTED, UNKNOWN_LICENSE, EXPIRING_ACCEPTANCES}


def trained_on(registry: GovernanceRegistry, uid: str, name: str, **facts: object) -> tuple[str, str]:
    data = f"file:///{uid}/{name}"
    registry.register_dataset(DatasetSpec(qualified_name=data, name=name, **facts))  # type: ignore[arg-type]
    model = ModelSpec(qualified_name=f"models/{uid}/{name}", name=name)
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-{name}", name=name, inputs=[data], outputs=[model]))
    return data, model.qualified_name


def found_by(client: AtlasClient, name: str, wanted: set[str]) -> set[str]:
    """Which of `wanted` (qualifiedNames) the stored search `name` returns, paging through all its results
    (the shared server holds other tests' entities too)."""
    [search] = [s for s in stored_searches(client) if s.name == name]
    seen: set[str] = set()
    offset = 0
    while True:
        page = run_saved_search(client, search.searchParameters, offset=offset, limit=200).get("entities") or []
        seen |= {e["attributes"]["qualifiedName"] for e in page} & wanted
        if not page or seen == wanted:
            return seen
        offset += len(page)


def test_ui_searches_installs_four_searches_that_find_what_they_promise(
        registry: GovernanceRegistry, client: AtlasClient, run: Callable[..., Result], uid: str) -> None:
    retracted, built_on_it = trained_on(registry, uid, "retracted", license="CC0-1.0")
    registry.retract_dataset(retracted, "labels were fabricated")
    assert run("check", built_on_it, "--audience", "public").exit_code == 2  # records the BLOCK on its release
    blocked_release = f"{built_on_it}#release/public/non-commercial"
    unlicensed, _ = trained_on(registry, uid, "unlicensed")  # registered without a license
    licensed, _ = trained_on(registry, uid, "licensed", license="CC0-1.0")
    today = datetime.now(timezone.utc).date()
    _, expiring = trained_on(registry, uid, "expiring", license="CC0-1.0", personal_data_categories=["face"])
    _, later = trained_on(registry, uid, "later", license="CC0-1.0", personal_data_categories=["face"])
    for model, days in ((expiring, 10), (later, 45)):
        accepted = run("accept", model, "--rule", "personal-data-public-weights", "--approver", "dpo",
                       "--ticket", "PRIV-1", "--until", (today + timedelta(days=days)).isoformat())
        assert accepted.exit_code == 0, accepted.output

    first = run("ui", "searches")
    assert first.exit_code == 0, first.output
    mine = [s for s in stored_searches(client) if s.name in OURS]
    assert sorted(s.name for s in mine) == sorted(OURS)
    assert {s.searchType for s in mine} == {"BASIC"}  # listed under basic search's Favorite searches
    assert {s.ownerName for s in mine} == {client.settings.username}

    assert found_by(client, BLOCKED_PUBLIC, {blocked_release}) == {blocked_release}
    assert found_by(client, RETRACTED, {retracted, built_on_it}) == {retracted, built_on_it}
    assert found_by(client, UNKNOWN_LICENSE, {unlicensed, licensed}) == {unlicensed}
    assert found_by(client, EXPIRING_ACCEPTANCES, {expiring, later}) == {expiring}

    again = run("ui", "searches")
    assert again.exit_code == 0, again.output
    assert "created" not in again.output
    names = [s.name for s in stored_searches(client) if s.name.startswith(PREFIX)]
    assert sorted(names) == sorted(OURS)  # no duplicates


def test_a_later_refresh_moves_the_expiry_window_in_place(client: AtlasClient) -> None:
    install_officer_searches(client)
    before = {s.name: s for s in stored_searches(client)}
    later = install_officer_searches(client, today=date.today() + timedelta(days=1))
    assert later.updated == [EXPIRING_ACCEPTANCES]
    after = {s.name: s for s in stored_searches(client)}
    # Same guid: the officer's Favorite searches panel keeps the entry rather than a new one appearing.
    assert after[EXPIRING_ACCEPTANCES].guid == before[EXPIRING_ACCEPTANCES].guid
    assert after[EXPIRING_ACCEPTANCES].searchParameters != before[EXPIRING_ACCEPTANCES].searchParameters
    assert install_officer_searches(client).updated == [EXPIRING_ACCEPTANCES]  # back to today


def test_the_demo_closing_words_link_the_model_release_searches_and_an_inherited_tag(
        registry: GovernanceRegistry, client: AtlasClient, run: Callable[..., Result], uid: str) -> None:
    from atlas_mlplugin.demo.__main__ import ui_tour, where_to_look

    data, model = trained_on(registry, uid, "scenes", license="CC-BY-NC-4.0")
    assert run("check", model, "--audience", "public", "--commercial").exit_code == 2
    install_officer_searches(client)
    settings = client.settings
    tour = ui_tour(client, settings.url, settings.username or "", "pw", model)
    model_guid = client.find_entity("ml_model", model)["entity"]["guid"]  # type: ignore[index]
    release = client.find_entity("ml_release", f"{model}#release/public/commercial")["entity"]  # type: ignore[index]
    assert (tour.model_guid, tour.release_guid, tour.release_name) == (
        model_guid, release["guid"], "scenes: public commercial")
    assert (tour.propagated_tag, tour.propagated_from) == ("NonCommercial", "scenes")
    assert set(tour.searches) == OURS
    text = "\n".join(where_to_look(tour))
    assert f"#!/detailPage/{model_guid}?tabActive=lineage" in text
    assert f"#!/detailPage/{release['guid']}" in text
