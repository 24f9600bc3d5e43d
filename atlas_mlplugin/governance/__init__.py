from atlas_mlplugin.governance.registry import GovernanceRegistry

__all__ = ["GovernanceRegistry"]
