"""The local server as a connection fallback: when nothing names an Atlas explicitly, talk to the one that
`atlas-ml server start` runs (its URL and generated password are in its state directory).

The access layer (atlas/connect.py) knows nothing about the launcher; the CLI and the training hooks,
which compose the application, pass `use_local_server` to it."""

from __future__ import annotations

from atlas_mlplugin.atlas.config import AtlasSettings


def use_local_server(settings: AtlasSettings) -> AtlasSettings:
    """`settings` pointed at the running local server, or unchanged when none runs."""
    from atlas_mlplugin.server.launcher import LocalAtlas

    local = LocalAtlas().status()
    if local.pid is None:
        return settings
    return settings.model_copy(update={"url": local.url, "username": local.user, "password": local.password})
