"""The state directory of a local Atlas: what lives where, which Solr port its index is registered under,
whether the last server stopped cleanly, and the bootstrap files the JVM runs.

  credentials.json     admin user and generated password (mode 600), kept across restarts and resets
  instance.json        pid, ports and version of the running server
  .lock                held while a launcher starts, stops or resets this server (and says who holds it)
  conf/ logs/          what Atlas reads and writes
  data/berkeley        the graph (BerkeleyDB): the truth everything else is derived from or added to
  data/audit           entity audit events (BerkeleyDB)
  data/kafka           the embedded Kafka's notification topics
  data/RUNNING         exists while a server started here has not stopped cleanly
  data/SETTING_UP      exists while `server run` applies our types after a start (the server is not ready)
  solr/solr/           Solr's core template, from the Atlas war
  solr/cloud/          the SolrCloud node: solr.xml, zoo.cfg, zoo_data/ (ZooKeeper), one core per index
  solr/port            the Solr port the cores are registered under (ZooKeeper listens on it + 1000)
  bootstrap/           the JVM's bootstrap script, the audit store's source and its compiled classes
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

BOOTSTRAP_SCRIPT = "local_atlas_bootstrap.groovy"
AUDIT_SOURCE = "PersistentEntityAuditRepository.groovy"
SOLR_ZOOKEEPER_OFFSET = 1000  # SolrCloud's embedded ZooKeeper listens on the Solr port + 1000
WIPED_BY_RESET = ("data", "solr", "logs", "bootstrap", "conf", "instance.json")

# ZooKeeper of the Solr node: loopback only; small tick for a one-node ensemble.
ZOO_CFG = "tickTime=2000\ninitLimit=10\nsyncLimit=5\nclientPortAddress=127.0.0.1\n"


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on host:port now. SO_REUSEADDR as servers set it: connections of a
    killed server in TIME_WAIT do not keep the port from being reused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StateDir:
    def __init__(self, home: Path) -> None:
        self.home = home

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def solr(self) -> Path:
        return self.home / "solr"

    @property
    def solr_home(self) -> Path:
        return self.solr / "cloud"

    @property
    def lock_file(self) -> Path:
        return self.home / ".lock"

    @property
    def running_marker(self) -> Path:
        return self.data / "RUNNING"

    @property
    def setup_marker(self) -> Path:
        return self.data / "SETTING_UP"

    # --- set-up after a start ---------------------------------------------------------------------------
    # Atlas makes new types visible before it has created their graph and search indexes (the typedef request
    # returns after both). An entity written in between can lose attribute values to a property key the write
    # created on its own, so a client must not write until the request that applies our types has returned:
    # `server run` marks that window, and `server status --healthy` (the container's health) waits for it.
    def mark_setting_up(self, pid: int) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.setup_marker.write_text(json.dumps({"pid": pid}))

    def mark_set_up(self) -> None:
        self.setup_marker.unlink(missing_ok=True)

    def setting_up(self, alive: Callable[[int], bool]) -> bool:
        """Whether a live `server run` (its pid judged by `alive`) is still applying types."""
        try:
            pid = int(json.loads(self.setup_marker.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return alive(pid)

    # --- the Solr port ------------------------------------------------------------------------------
    def solr_port(self) -> tuple[int, str | None]:
        """The Solr port to use and, when it had to change, why (the index is then rebuilt from the graph:
        its cores are registered under the old port)."""
        recorded_file = self.solr / "port"
        recorded: int | None = None
        if recorded_file.is_file():
            try:
                recorded = int(recorded_file.read_text().strip())
            except ValueError:
                recorded = None
        if recorded and port_free(recorded) and port_free(recorded + SOLR_ZOOKEEPER_OFFSET):
            return recorded, None
        while True:
            port = free_port()
            if port + SOLR_ZOOKEEPER_OFFSET < 65536 and port_free(port + SOLR_ZOOKEEPER_OFFSET):
                break
        why = None
        if recorded and self.solr_home.exists():
            why = (f"Solr port {recorded} (or {recorded + SOLR_ZOOKEEPER_OFFSET}) is taken by another program; "
                   f"the search index moves to port {port} and is rebuilt from the graph")
            shutil.rmtree(self.solr_home)
        self.solr.mkdir(parents=True, exist_ok=True)
        recorded_file.write_text(f"{port}\n")
        return port, why

    def prepare_solr_home(self) -> Path:
        """The SolrCloud node's home: solr.xml from Atlas's template, and a loopback-only zoo.cfg."""
        home = self.solr_home
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.solr / "solr" / "solr.xml", home / "solr.xml")
        (home / "zoo.cfg").write_text(ZOO_CFG)
        return home

    # --- clean stops ----------------------------------------------------------------------------------
    def unclean_stop(self) -> str | None:
        """Why the search index cannot be trusted after the last run, or None after a clean stop."""
        if not self.running_marker.is_file():
            return None
        try:
            started = json.loads(self.running_marker.read_text()).get("started_at")
        except (OSError, ValueError):
            started = None
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "an earlier run"
        return f"the server started at {when} did not stop cleanly (killed, crashed or the machine went down)"

    def forget_after_unclean_stop(self) -> None:
        """After a run that did not stop cleanly: drop what a killed JVM leaves inconsistent or locked.

        - The Solr node's directory: its ZooKeeper still holds the killed node's registrations (an
          ephemeral live node the next node refuses to start next to) and its cores may lack the last
          writes. The index is derived from the graph and rebuilt from it at start.
        - The embedded Kafka's ZooKeeper state: it only holds the broker's registration (the same kind of
          leftover) and topic metadata Atlas creates again; the topics' messages and consumer offsets stay.
        The graph and the audit store are transactional and keep every committed write."""
        shutil.rmtree(self.solr_home, ignore_errors=True)
        shutil.rmtree(self.data / "kafka" / "zk", ignore_errors=True)

    def mark_running(self, pid: int) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.running_marker.write_text(json.dumps({"pid": pid, "started_at": time.time()}))

    def mark_stopped_cleanly(self) -> None:
        self.running_marker.unlink(missing_ok=True)

    # --- bootstrap ------------------------------------------------------------------------------------
    def install_bootstrap(self) -> tuple[Path, Path, Path]:
        """Copy the bootstrap script and the audit store's source into the state dir; returns (script,
        audit source, classes directory). The classes directory must exist before the JVM starts: it is on
        the classpath, and the bootstrap compiles the audit store into it."""
        target = self.home / "bootstrap"
        classes = target / "classes"
        classes.mkdir(parents=True, exist_ok=True)
        package = resources.files("atlas_mlplugin.server.resources").joinpath("bootstrap")
        for name in (BOOTSTRAP_SCRIPT, AUDIT_SOURCE):
            (target / name).write_text(package.joinpath(name).read_text("utf-8"), encoding="utf-8")
        return target / BOOTSTRAP_SCRIPT, target / AUDIT_SOURCE, classes

    # --- reset ----------------------------------------------------------------------------------------
    def wipe(self) -> list[str]:
        """Remove the catalog, its index, audit, logs and configuration; keep the credentials."""
        removed = []
        for name in WIPED_BY_RESET:
            path = self.home / name
            if path.is_dir():
                shutil.rmtree(path)
                removed.append(name + "/")
            elif path.exists():
                path.unlink()
                removed.append(name)
        return removed
