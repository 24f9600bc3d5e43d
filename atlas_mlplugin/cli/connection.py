"""The Atlas every command talks to: --config / ATLAS_URL / ATLAS_ML_CONFIG when given, else the local
server of `atlas-ml server start`. Imported inside commands, so `--help` never loads the HTTP stack."""

from __future__ import annotations

import click

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.connect import connect
from atlas_mlplugin.server.discovery import use_local_server


def client_of(ctx: click.Context) -> AtlasClient:
    return connect(ctx.obj["config"], fallback=use_local_server)
