"""Which Atlas to talk to: the one configured explicitly (a properties file, ATLAS_URL or ATLAS_ML_CONFIG),
else whatever the caller's `fallback` supplies.

The CLI and the training hooks pass `atlas_mlplugin.server.discovery.use_local_server`, so that after
`atlas-ml server start` every command works with no further setup; explicit settings always win.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings

SettingsFallback = Callable[[AtlasSettings], AtlasSettings]


def resolve_settings(properties_file: Path | None = None, *, fallback: SettingsFallback | None = None
                     ) -> AtlasSettings:
    settings = AtlasSettings.load(properties_file=properties_file)
    explicit = properties_file or os.environ.get("ATLAS_URL") or os.environ.get("ATLAS_ML_CONFIG")
    if explicit or fallback is None:
        return settings
    return fallback(settings)


def connect(properties_file: Path | None = None, *, fallback: SettingsFallback | None = None) -> AtlasClient:
    return AtlasClient(resolve_settings(properties_file, fallback=fallback))
