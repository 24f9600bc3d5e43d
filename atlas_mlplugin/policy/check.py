"""The release check as one call: gather evidence from Atlas, evaluate the policy, optionally record it.

    report = check_model(client, "models/scene-intent/1", ReleaseContext(audience="public", commercial=True))
    if report.verdict == "BLOCK": ...
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.policy.accepting import release_acceptances
from atlas_mlplugin.policy.evaluate import evaluate
from atlas_mlplugin.policy.gather import collect_evidence
from atlas_mlplugin.policy.model import CheckReport, ReleaseContext
from atlas_mlplugin.policy.rules import Policy, load_policy
from atlas_mlplugin.policy.writeback import write_back


def check_model(client: AtlasClient, model_qualified_name: str, context: ReleaseContext, *,
                policy: Policy | Path | None = None, record: bool = False) -> CheckReport:
    """May this model be released in this context? With record=True the verdict is written to Atlas."""
    if not isinstance(policy, Policy):
        policy = load_policy(policy)
    evidence = collect_evidence(client, model_qualified_name)
    # An officer may record an acceptance on the model (all contexts) or on one release decision.
    on_release, unusable = release_acceptances(client, model_qualified_name, context)
    report = evaluate(evidence, context, policy, now=datetime.now(timezone.utc), acceptances=on_release,
                      ignored_acceptances=unusable)
    report = report.model_copy(update={"rest_calls": evidence.rest_calls + 1})
    if record:
        write_back(client, report, model_name=evidence.model_name)
    return report
