"""The integration suite's Atlas in a container (ATLAS_TEST_BACKEND=docker): the image docker/build.sh makes,
started with testcontainers, with the state on a volume of its own that goes with the container.

The container's Ryuk reaper cannot run here (its image cannot be pulled: TESTCONTAINERS_RYUK_DISABLED=true),
so the fixture removes the container and its volume itself, also when the start fails.

The embedded Kafka broker is reachable from the host too, for the kafka transport's tests: the launcher opens a
second listener on KAFKA_PORT (ATLAS_ML_KAFKA_PORT) that advertises the host's address and a host port chosen
here before the start (ATLAS_ML_KAFKA_ADVERTISED; Kafka tells clients where to connect, so that address must be
known before the broker starts, which a port Docker picks at random is not). While the container runs,
ATLAS_KAFKA_BOOTSTRAP_SERVERS names that address, as for a server given by ATLAS_URL. This assumes the Docker
daemon runs on this machine (the free port is found here), as `make test-docker` does.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

IMAGE = os.environ.get("ATLAS_TEST_IMAGE", "atlas-mlplugin/atlas:local")
PORT = 21000
KAFKA_PORT = 9092  # the broker's listener for clients outside the container (the Dockerfile EXPOSEs it)
KAFKA_ENV = "ATLAS_KAFKA_BOOTSTRAP_SERVERS"
START_TIMEOUT = 600.0


@contextmanager
def atlas_container(progress=print) -> Iterator[tuple[str, str, str]]:  # noqa: ANN001
    """Yield (url, user, password) of an ACTIVE Atlas in a fresh container; remove it afterwards."""
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.docker_client import DockerClient

    password = secrets.token_urlsafe(12)
    kafka = f"{DockerClient().host()}:{_free_port()}"
    container = (DockerContainer(IMAGE).with_exposed_ports(PORT)
                 .with_bind_ports(KAFKA_PORT, int(kafka.rsplit(":", 1)[1]))
                 .with_env("ATLAS_ML_ADMIN_PASSWORD", password)
                 .with_env("ATLAS_ML_KAFKA_PORT", str(KAFKA_PORT))
                 .with_env("ATLAS_ML_KAFKA_ADVERTISED", kafka))
    container.start()
    before = os.environ.get(KAFKA_ENV)
    try:
        url = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(PORT)}"
        progress(f"container {container.get_wrapped_container().short_id} of {IMAGE} at {url}")
        _wait_active(container, url, password, progress)
        progress(f"its Kafka broker at {kafka}")
        os.environ[KAFKA_ENV] = kafka
        yield url, "admin", password
    finally:
        if before is None:
            os.environ.pop(KAFKA_ENV, None)
        else:
            os.environ[KAFKA_ENV] = before
        wrapped = container.get_wrapped_container()
        try:
            wrapped.stop(timeout=60)  # a clean stop, as a user's `docker stop -t 60` would
        finally:
            wrapped.remove(v=True, force=True)  # the container and its anonymous /data volume


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def _wait_active(container, url: str, password: str, progress) -> None:  # noqa: ANN001
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        if wrapped.status != "running":
            logs = wrapped.logs(tail=40).decode("utf-8", "replace")
            raise RuntimeError(f"the Atlas container exited during startup:\n{logs}")
        if _healthy(wrapped) and _answers(url, password):
            return
        time.sleep(1)
    raise RuntimeError(f"the Atlas container did not become ready within {START_TIMEOUT:.0f} s")


def _healthy(wrapped) -> bool:  # noqa: ANN001
    # The image's own health check: ACTIVE and our types applied by `server run`. Atlas shows new types before
    # it has indexed them, and a test writing in between lost attribute values (see StateDir.setup_marker).
    return wrapped.exec_run(["atlas-ml", "server", "status", "--healthy"]).exit_code == 0


def _answers(url: str, password: str) -> bool:
    """Atlas answers through the mapped port, with the password the container was given."""
    try:
        reply = requests.get(f"{url}/api/atlas/admin/status", auth=("admin", password), timeout=5)
        return reply.ok and reply.json().get("Status") == "ACTIVE"
    except (requests.RequestException, ValueError):
        return False
