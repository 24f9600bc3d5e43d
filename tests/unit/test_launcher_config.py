"""The local Atlas's configuration files and the launcher's behaviour that needs no JVM and no network."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from atlas_mlplugin.server import launcher as launcher_mod
from atlas_mlplugin.server.configuration import Ports, password_hash, write_configuration
from atlas_mlplugin.server.errors import LauncherError
from atlas_mlplugin.server.launcher import InstanceRecord, LauncherOptions, LocalAtlas

# What Apache Atlas's own distro ships in conf/users-credentials.properties for admin/admin.
ATLAS_ADMIN_ADMIN_HASH = "a4a88c0872bf652bb9ed803ece5fd6e82354838a9bf59ab4babb1dab322154e1"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("ATLAS_ML_STATE_DIR", "ATLAS_ML_DOWNLOAD_DIR", "ATLAS_ML_ATLAS_VERSION", "ATLAS_ML_ATLAS_WAR"):
        monkeypatch.delenv(var, raising=False)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"unexpected HTTP request {args}")

    monkeypatch.setattr(launcher_mod.requests, "get", no_network)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def parse_properties(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


# --------------------------------------------------------------------------------------------------
# configuration


def test_password_hash_matches_atlas_distro() -> None:
    assert password_hash("admin", "admin") == ATLAS_ADMIN_ADMIN_HASH


def test_password_hash_is_salted_by_user() -> None:
    assert password_hash("alice", "admin") != password_hash("admin", "admin")
    assert password_hash("admin", "s3cret") != ATLAS_ADMIN_ADMIN_HASH
    # Atlas's file authenticator checks sha256("<password>{<user>}"); user and password must not be swapped
    # (admin/admin above cannot tell the two apart).
    assert password_hash("alice", "s3cret") == hashlib.sha256(b"s3cret{alice}").hexdigest()
    assert password_hash("alice", "s3cret") != password_hash("s3cret", "alice")


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, Path, Ports]:
    home = tmp_path / "home"
    ports = Ports(http=23456, kafka_zookeeper=23457, kafka_broker=23458, solr=23459)
    conf = write_configuration(home=home, ports=ports, bind_address="127.0.0.1", user="admin",
                               password="pw-Sup3rSecret!")
    return home, conf, ports


def test_properties_file(written: tuple[Path, Path, Ports]) -> None:
    home, conf, ports = written
    assert conf == home / "conf"
    props = parse_properties((conf / "atlas-application.properties").read_text())
    assert props["atlas.graph.storage.backend"] == "berkeleyje"
    assert props["atlas.graph.storage.directory"] == str(home / "data" / "berkeley")
    assert props["atlas.graph.index.search.backend"] == "solr"
    # Our persistent SolrCloud node, not Atlas's embedded one (which starts empty every time); its ZooKeeper
    # listens on the Solr port + 1000.
    assert props["atlas.graph.index.search.solr.embedded"] == "false"
    assert props["atlas.graph.index.search.solr.zookeeper-url"] == "127.0.0.1:24459"
    # Audit events on disk, where a restart keeps them.
    assert props["atlas.EntityAuditRepository.impl"] == (
        "org.apache.atlas.mlplugin.audit.PersistentEntityAuditRepository")
    assert props["atlas.EntityAuditRepository.local.directory"] == str(home / "data" / "audit")
    assert props["atlas.server.bind.address"] == "127.0.0.1"
    assert props["atlas.server.http.port"] == "23456"
    assert props["atlas.rest.address"] == "http://127.0.0.1:23456"
    assert props["atlas.kafka.zookeeper.connect"] == "127.0.0.1:23457"
    assert props["atlas.kafka.bootstrap.servers"] == "127.0.0.1:23458"
    assert props["atlas.notification.embedded"] == "true"
    assert props["atlas.authentication.method.file"] == "true"
    # the properties point at the files that were actually written
    assert Path(props["atlas.authentication.method.file.filename"]) == conf / "users-credentials.properties"
    assert Path(props["atlas.authorizer.simple.authz.policy.file"]) == conf / "atlas-simple-authz-policy.json"
    assert (conf / "atlas-log4j.xml").is_file()


def test_credentials_file_is_private_and_holds_only_the_hash(written: tuple[Path, Path, Ports]) -> None:
    _, conf, _ = written
    creds = conf / "users-credentials.properties"
    assert mode(creds) == 0o600
    assert creds.read_text() == f"admin=ADMIN::{password_hash('admin', 'pw-Sup3rSecret!')}\n"
    for path in conf.iterdir():
        assert "pw-Sup3rSecret!" not in path.read_text(), f"plain password leaked into {path.name}"


def test_authz_policy_grants_admin_role_to_admin_group(written: tuple[Path, Path, Ports]) -> None:
    _, conf, _ = written
    policy = json.loads((conf / "atlas-simple-authz-policy.json").read_text())
    assert policy["groupRoles"] == {"ADMIN": ["ROLE_ADMIN"]}
    role = policy["roles"]["ROLE_ADMIN"]
    assert role["adminPermissions"] == [{"privileges": [".*"]}]
    assert role["typePermissions"][0]["privileges"] == [".*"]
    assert role["entityPermissions"][0]["privileges"] == [".*"]
    assert role["entityPermissions"][0]["classifications"] == [".*"]
    assert role["relationshipPermissions"][0]["privileges"] == [".*"]


def test_rewrite_keeps_the_credentials_file_private(written: tuple[Path, Path, Ports]) -> None:
    home, conf, ports = written
    write_configuration(home=home, ports=ports, bind_address="127.0.0.1", user="admin", password="other")
    creds = conf / "users-credentials.properties"
    assert mode(creds) == 0o600
    assert creds.read_text() == f"admin=ADMIN::{password_hash('admin', 'other')}\n"


# --------------------------------------------------------------------------------------------------
# launcher


def atlas_at(tmp_path: Path, port: int = 21999) -> LocalAtlas:
    return LocalAtlas(LauncherOptions(state_dir=tmp_path / "state", download_dir=tmp_path / "downloads",
                                      port=port))


def test_credentials_generated_once_and_stable(tmp_path: Path) -> None:
    user, password = atlas_at(tmp_path).credentials()
    assert user == "admin"
    assert len(password) >= 12 and password != "admin"
    assert atlas_at(tmp_path).credentials() == (user, password)  # a new instance reads the same file
    path = tmp_path / "state" / "credentials.json"
    assert mode(path) == 0o600
    assert json.loads(path.read_text()) == {"user": user, "password": password}


def test_each_state_dir_gets_its_own_password(tmp_path: Path) -> None:
    assert atlas_at(tmp_path / "a").credentials()[1] != atlas_at(tmp_path / "b").credentials()[1]


def test_status_of_never_started_dir(tmp_path: Path) -> None:
    atlas = atlas_at(tmp_path, port=21999)
    status = atlas.status()
    assert status.running is False
    assert status.pid is None
    assert status.atlas_status is None
    assert status.url == "http://127.0.0.1:21999"
    assert (status.user, status.password) == atlas.credentials()
    assert status.state_dir == str(tmp_path / "state")


def write_stale_record(atlas: LocalAtlas, pid: int) -> Path:
    atlas.home.mkdir(parents=True, exist_ok=True)
    record = InstanceRecord(pid=pid, ports=Ports(http=21999, kafka_zookeeper=1, kafka_broker=2),
                            bind_address="127.0.0.1", version="2.1.0", started_at=0.0)
    path = atlas.home / "instance.json"
    path.write_text(record.model_dump_json())
    return path


def test_stale_record_of_a_recycled_pid_is_not_running(tmp_path: Path) -> None:
    atlas = atlas_at(tmp_path)
    write_stale_record(atlas, os.getpid())  # a live pid, but not an Atlas JVM of this state dir
    status = atlas.status()
    assert status.running is False and status.pid is None


def test_stop_on_never_started_dir_returns_false(tmp_path: Path) -> None:
    assert atlas_at(tmp_path).stop() is False


def test_stop_never_signals_a_recycled_pid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pid: int, sig: int) -> None:  # fail at once rather than wait for our own pid to exit
        raise AssertionError(f"signal {sig} sent to pid {pid}, which is not this state dir's Atlas")

    monkeypatch.setattr(launcher_mod.os, "killpg", refuse)
    monkeypatch.setattr(launcher_mod.os, "kill", refuse)
    atlas = atlas_at(tmp_path)
    record = write_stale_record(atlas, os.getpid())
    assert atlas.stop(timeout=0.1) is False
    assert not record.exists()  # the stale record is cleaned up


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def test_start_on_a_taken_port_fails_before_downloading(tmp_path: Path, busy_port: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def forbidden(name: str) -> Callable[..., None]:
        def fn(*args: object, **kwargs: object) -> None:
            calls.append(name)
            raise AssertionError(f"{name} called although the port is taken")
        return fn

    for name in ("find_java11", "download_war", "unpack_war", "extract_solr_templates"):
        monkeypatch.setattr(launcher_mod.artifacts, name, forbidden(name))
    monkeypatch.setattr(launcher_mod.subprocess, "Popen", forbidden("Popen"))

    atlas = atlas_at(tmp_path, port=busy_port)
    with pytest.raises(LauncherError) as info:
        atlas.start(progress=calls.append)
    message = str(info.value)
    assert str(busy_port) in message
    assert "--port" in message
    assert calls == []
    assert not (tmp_path / "downloads").exists()
    assert not (tmp_path / "state" / "instance.json").exists()


def test_relative_state_dir_is_made_absolute(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    # The JVM runs inside the state dir: a relative path would point inside itself.
    monkeypatch.chdir(tmp_path)
    from atlas_mlplugin.server.launcher import LauncherOptions

    options = LauncherOptions(state_dir=Path("rel/state"), download_dir=Path("dl"))
    assert options.state_dir == tmp_path / "rel" / "state" and options.state_dir.is_absolute()
    assert options.download_dir == tmp_path / "dl"


def test_an_external_kafka_listener_advertises_the_published_address_and_atlas_keeps_the_loopback(
        tmp_path: Path) -> None:
    from atlas_mlplugin.server.configuration import ExternalKafka

    ports = Ports(http=23456, kafka_zookeeper=23457, kafka_broker=23458, solr=23459)
    conf = write_configuration(home=tmp_path, ports=ports, bind_address="0.0.0.0", user="admin", password="pw",
                               external_kafka=ExternalKafka(port=9092, advertised="localhost:39092"))
    props = parse_properties((conf / "atlas-application.properties").read_text())
    assert props["atlas.kafka.bootstrap.servers"] == "127.0.0.1:23458"  # Atlas's own clients stay inside
    assert props["atlas.kafka.listeners"] == "INTERNAL://127.0.0.1:23458,EXTERNAL://0.0.0.0:9092"
    assert props["atlas.kafka.advertised.listeners"] == "INTERNAL://127.0.0.1:23458,EXTERNAL://localhost:39092"
    assert props["atlas.kafka.listener.security.protocol.map"] == "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT"
    assert props["atlas.kafka.inter.broker.listener.name"] == "INTERNAL"
    plain = write_configuration(home=tmp_path / "plain", ports=ports, bind_address="127.0.0.1", user="admin",
                                password="pw")
    assert "atlas.kafka.listeners" not in parse_properties((plain / "atlas-application.properties").read_text())


def test_the_external_kafka_listener_is_set_by_environment_and_a_wrong_value_names_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATLAS_ML_KAFKA_ADVERTISED", raising=False)
    monkeypatch.delenv("ATLAS_ML_KAFKA_PORT", raising=False)
    assert LauncherOptions().external_kafka() is None
    monkeypatch.setenv("ATLAS_ML_KAFKA_PORT", "9092")
    assert LauncherOptions().external_kafka().advertised == "localhost:9092"  # compose publishes it 1:1
    monkeypatch.setenv("ATLAS_ML_KAFKA_ADVERTISED", "docker-host.example:39092")
    assert LauncherOptions().external_kafka().advertised == "docker-host.example:39092"
    monkeypatch.setenv("ATLAS_ML_KAFKA_ADVERTISED", "http://docker-host:39092")
    with pytest.raises(LauncherError, match="ATLAS_ML_KAFKA_ADVERTISED"):
        LauncherOptions().external_kafka()
    monkeypatch.delenv("ATLAS_ML_KAFKA_PORT")
    with pytest.raises(LauncherError, match="needs ATLAS_ML_KAFKA_PORT"):
        LauncherOptions().external_kafka()
