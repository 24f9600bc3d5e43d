"""`atlas-ml accept --audience` targets the ml_release a recorded check writes: both must name it alike, or an
acceptance would land on an entity the check never reads."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from atlas_mlplugin.mapping.releases import ReleaseDecision
from atlas_mlplugin.policy.accepting import release_qualified_name
from atlas_mlplugin.policy.model import ReleaseContext


@pytest.mark.parametrize("audience", ["internal", "partner", "public"])
@pytest.mark.parametrize("commercial", [True, False])
def test_accept_names_the_release_the_check_records(audience: str, commercial: bool) -> None:
    written = ReleaseDecision(model="models/m/1", model_name="m", audience=audience, commercial=commercial,
                              ships=("weights",), verdict="WARN", summary="", findings_json="[]",
                              checked_at=datetime(2026, 1, 1, tzinfo=timezone.utc)).release_qualified_name
    context = ReleaseContext(audience=audience, commercial=commercial)  # type: ignore[arg-type]
    assert release_qualified_name("models/m/1", context) == written
