"""The officers' saved searches as data: the 30-day window follows the day they are written, and a search
Atlas echoes back (defaults added, attribute order lost) counts as unchanged, so a refresh rewrites nothing."""

from __future__ import annotations

from datetime import date, datetime, timezone

from atlas_mlplugin.governance.saved_searches import (
    EXPIRING_ACCEPTANCES,
    PREFIX,
    StoredSearch,
    officer_searches,
    same_search,
)


def ms(day: date) -> str:
    return str(int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000))


def test_the_expiry_window_runs_from_today_to_thirty_days_on() -> None:
    [expiring] = [s for s in officer_searches(date(2026, 11, 30)) if s.name == EXPIRING_ACCEPTANCES]
    bounds = {c["operator"]: c["attributeValue"] for c in expiring.parameters["tagFilters"]["criterion"]}
    assert bounds == {">=": ms(date(2026, 11, 30)), "<=": ms(date(2026, 12, 30))}
    assert expiring.parameters["classification"] == "RiskAccepted"


def test_every_search_is_ours_and_basic() -> None:
    searches = officer_searches(date(2026, 1, 1))
    assert len({s.name for s in searches}) == 4
    assert all(s.name.startswith(PREFIX) and s.search_type == "BASIC" for s in searches)


def test_a_search_as_atlas_echoes_it_is_unchanged_and_another_day_is_not() -> None:
    wanted = officer_searches(date(2026, 11, 30))
    for search in wanted:
        echoed = dict(search.parameters, attributes=list(reversed(search.parameters["attributes"])),
                      sortOrder=None)  # Atlas returns the attribute set in its own order and adds fields
        assert same_search(search, StoredSearch(guid="g", name=search.name, searchParameters=echoed))
    tomorrow = {s.name: s for s in officer_searches(date(2026, 12, 1))}
    changed = [s.name for s in wanted
               if not same_search(s, StoredSearch(guid="g", name=s.name, searchParameters=tomorrow[s.name].parameters))]
    assert changed == [EXPIRING_ACCEPTANCES]
    advanced = StoredSearch(guid="g", name=wanted[0].name, searchType="ADVANCED", searchParameters=wanted[0].parameters)
    assert not same_search(wanted[0], advanced)
