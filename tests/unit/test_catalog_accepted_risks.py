"""The catalog's `accepted_risks:` section: what an officer writes is checked with FILE:LINE errors before
anything reaches Atlas (rule ids, never-acceptable rules, one entry per model, a reason or ticket)."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from atlas_mlplugin.catalog import CatalogError, load_catalog


def load(tmp_path: Path, text: str):  # noqa: ANN201
    path = tmp_path / "catalog.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_catalog(path)


def issues(tmp_path: Path, text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(CatalogError) as caught:
        load(tmp_path, text)
    return [(i.line, i.field, i.message) for i in caught.value.issues]


def test_an_accepted_risk_is_read_with_its_expiry(tmp_path: Path) -> None:
    doc = load(tmp_path, """
        version: 1
        accepted_risks:
          - model: models/scene-intent/1
            rules: [personal-data-public-weights]
            datasets: [file:///data/street]
            approver: dpo@example.org
            ticket: PRIV-42
            until: 2020-06-30
        """)
    [risk] = doc.accepted_risks
    # A lapsed date is no error: a committed file keeps applying, and the check reports the lapse.
    assert (risk.model, risk.rules, risk.until) == ("models/scene-intent/1", ["personal-data-public-weights"],
                                                    date(2020, 6, 30))


def test_never_acceptable_and_misspelt_rules_are_refused_at_their_line(tmp_path: Path) -> None:
    found = issues(tmp_path, """
        version: 1
        accepted_risks:
          - model: models/a
            rules:
              - consent-withdrawn
              - personal-data-public-weight
            approver: dpo
            reason: reviewed
            until: 2030-01-01
        """)
    assert [(line, field) for line, field, _ in found] == [(5, "accepted_risks[0].rules[0]"),
                                                           (6, "accepted_risks[0].rules[1]")]
    assert found[0][2].startswith("rule consent-withdrawn may never be accepted")
    assert "did you mean 'personal-data-public-weights'?" in found[1][2]


def test_one_entry_per_model_and_a_reason_or_ticket(tmp_path: Path) -> None:
    found = issues(tmp_path, """
        version: 1
        accepted_risks:
          - {model: models/a, rules: [share-alike], approver: dpo, reason: ok, until: 2030-01-01}
          - {model: models/a, rules: [unknown-license], approver: dpo, ticket: T-1, until: 2030-01-01}
          - {model: models/b, rules: [share-alike], approver: dpo, until: 2030-01-01}
        """)
    assert (5, "accepted_risks[2]", "say why the risk is acceptable: give reason or ticket") in found
    assert any(line == 4 and "Atlas holds one per model" in message for line, _, message in found), found
