"""Recording a check's verdict in Atlas, where a governance officer sees it on the model's page: the release
entity, the model's verdict attributes and its ReleaseVerdict tag (built in mapping/releases.py)."""

from __future__ import annotations

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.releases import release_qualified_name, verdict_entities, verdict_tag
from atlas_mlplugin.policy.model import CheckReport


def write_back(client: AtlasClient, report: CheckReport, *, model_name: str | None = None) -> str:
    """Upsert the release entity, update the model's verdict attributes and its ReleaseVerdict tag;
    returns the release entity's guid. Idempotent for the same report."""
    registry = GovernanceRegistry(client)
    release_guid = registry.upsert(verdict_entities(report, model_name), n.ML_RELEASE, release_qualified_name(report))
    registry.sync_derived_tags(report.model_guid, [verdict_tag(report)], frozenset({n.RELEASE_VERDICT}))
    return release_guid
