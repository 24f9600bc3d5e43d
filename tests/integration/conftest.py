"""One real Atlas for the whole test session, from one of three backends:

- local (default): started by the project's own launcher in .state/test-atlas on a free port (so a demo
  server on 21000 is left alone), from an empty catalog, and stopped at the end;
- docker (ATLAS_TEST_BACKEND=docker): the image of docker/Dockerfile in a container started with
  testcontainers (atlas_container.py; `make test-docker` builds the image and runs the suite so);
- the server given by ATLAS_URL (ATLAS_USER and ATLAS_PASSWORD for its credentials).
Either way our typedefs are applied once before the tests. Tests that drive the launcher itself skip
unless the backend is local.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pydantic import SecretStr

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.atlas.typedefs import apply
from atlas_mlplugin.cli.main import cli
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.server.launcher import LauncherOptions, LocalAtlas
from atlas_mlplugin.transport.kafka import HookPublisher
from atlas_mlplugin.transport.settings import KafkaSettings, load_kafka_settings

REPO = Path(__file__).resolve().parents[2]
TEST_STATE_DIR = REPO / ".state" / "test-atlas"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BACKEND = "url" if os.environ.get("ATLAS_URL") else os.environ.get("ATLAS_TEST_BACKEND", "local")


@pytest.fixture(scope="session")
def container_atlas() -> Iterator[AtlasSettings | None]:
    """The settings of the session's Atlas container, or None unless the backend is docker."""
    if BACKEND != "docker":
        yield None
        return
    from tests.integration.atlas_container import atlas_container

    with atlas_container(progress=lambda msg: print(f"[atlas] {msg}", file=sys.stderr, flush=True)) as (url, user,
                                                                                                      password):
        yield AtlasSettings(url=url, username=user, password=SecretStr(password))


@pytest.fixture(scope="session")
def local_atlas() -> Iterator[LocalAtlas | None]:
    """The launcher of the session's server, or None when the tests run against another backend."""
    if BACKEND != "local":
        yield None
        return
    atlas = LocalAtlas(LauncherOptions(state_dir=TEST_STATE_DIR, port=free_port()))
    atlas.reset()  # the local server keeps its data; each test session starts from an empty catalog
    atlas.start(progress=lambda msg: print(f"[atlas] {msg}", file=sys.stderr, flush=True))
    try:
        yield atlas
    finally:
        peak = atlas.status().peak_rss_mb
        print(f"\n[atlas] peak resident memory of the test server: {peak:.0f} MB" if peak else "",
              file=sys.stderr, flush=True)
        atlas.stop()


@pytest.fixture(scope="session")
def atlas_settings(local_atlas: LocalAtlas | None, container_atlas: AtlasSettings | None) -> AtlasSettings:
    if container_atlas is not None:
        return container_atlas
    if local_atlas is None:
        return AtlasSettings.load()
    status = local_atlas.status()
    return AtlasSettings(url=status.url, username=status.user, password=SecretStr(status.password))


@pytest.fixture(scope="session")
def client(atlas_settings: AtlasSettings) -> AtlasClient:
    atlas_client = AtlasClient(atlas_settings)
    apply(atlas_client)
    return atlas_client


@pytest.fixture(scope="session")
def registry(client: AtlasClient) -> GovernanceRegistry:
    return GovernanceRegistry(client)


@pytest.fixture
def uid() -> str:
    """A suffix that keeps each test's entities apart on a shared server."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def run(atlas_settings: AtlasSettings, client: AtlasClient) -> Callable[..., Result]:
    """`atlas-ml ARGS...` as a user types it, against the session's Atlas (our types applied)."""
    env = {"ATLAS_URL": atlas_settings.url, "ATLAS_USER": atlas_settings.username or "",
           "ATLAS_PASSWORD": atlas_settings.password.get_secret_value() if atlas_settings.password else ""}

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture(scope="session")
def kafka_settings(local_atlas: LocalAtlas | None, atlas_settings: AtlasSettings) -> KafkaSettings:
    """The broker of the session's Atlas: ATLAS_KAFKA_BOOTSTRAP_SERVERS (the container backend sets it once its
    Atlas is up, hence atlas_settings first), else the local server's; the Kafka tests skip without one."""
    bootstrap = os.environ.get("ATLAS_KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap and local_atlas is not None:
        bootstrap = local_atlas.status().kafka_bootstrap_servers
    if not bootstrap:
        pytest.skip("no Kafka of this Atlas known: set ATLAS_KAFKA_BOOTSTRAP_SERVERS (`atlas-ml server status --json`)")
    return load_kafka_settings(None, {"ATLAS_KAFKA_BOOTSTRAP_SERVERS": bootstrap})


@pytest.fixture(scope="session")
def publisher(kafka_settings: KafkaSettings) -> HookPublisher:
    return HookPublisher(kafka_settings)
