"""Atlas access layer: settings, a hardened HTTP session, a JSON facade and typed errors.

``AtlasClient`` and ``AtlasSettings`` are imported lazily: importing this package must stay cheap (the CLI
starts through it) and must not pull in requests and pydantic for code that only needs the errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from atlas_mlplugin.atlas.errors import (
    AtlasAuthError,
    AtlasError,
    AtlasHTTPError,
    AtlasNotFoundError,
    AtlasRequestError,
    AtlasResponseError,
    AtlasServerError,
    AtlasUnavailableError,
    ConfigError,
    PendingTasksTimeoutError,
)

if TYPE_CHECKING:
    from atlas_mlplugin.atlas.client import AtlasClient
    from atlas_mlplugin.atlas.config import AtlasSettings
    from atlas_mlplugin.atlas.session import AtlasSession, build_session

__all__ = [
    "AtlasAuthError",
    "AtlasClient",
    "AtlasError",
    "AtlasHTTPError",
    "AtlasNotFoundError",
    "AtlasRequestError",
    "AtlasResponseError",
    "AtlasServerError",
    "AtlasSession",
    "AtlasSettings",
    "AtlasUnavailableError",
    "ConfigError",
    "PendingTasksTimeoutError",
    "build_session",
]

_LAZY = {
    "AtlasClient": "atlas_mlplugin.atlas.client",
    "AtlasSession": "atlas_mlplugin.atlas.session",
    "build_session": "atlas_mlplugin.atlas.session",
    "AtlasSettings": "atlas_mlplugin.atlas.config",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
