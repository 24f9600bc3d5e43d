"""Which Atlas to talk to: the one configured explicitly, else the local server of `atlas-ml server start`.

So that after `atlas-ml server start` every other command (and `connect()` in Python) works with no
further setup, while ATLAS_URL or a properties file always take precedence.
"""

from __future__ import annotations

import os
from pathlib import Path

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.config import AtlasSettings


def resolve_settings(properties_file: Path | None = None) -> AtlasSettings:
    settings = AtlasSettings.load(properties_file=properties_file)
    explicit = properties_file or os.environ.get("ATLAS_URL") or os.environ.get("ATLAS_ML_CONFIG")
    if explicit:
        return settings
    from atlas_mlplugin.server.launcher import LocalAtlas

    local = LocalAtlas().status()
    if local.pid is not None:
        return settings.model_copy(update={"url": local.url, "username": local.user,
                                           "password": local.password})
    return settings


def connect(properties_file: Path | None = None) -> AtlasClient:
    return AtlasClient(resolve_settings(properties_file))
