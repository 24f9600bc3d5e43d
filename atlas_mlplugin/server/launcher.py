"""A real Apache Atlas on this machine: obtain, configure, start in the background, wait, stop, reset.

It keeps its data like a database: the graph, its search index and the audit live in the state directory
(default: the user's cache dir, `atlas-mlplugin/local-atlas`; layout in state.py) and survive `stop`/`start`,
a reboot and a killed JVM. The search index is derived from the graph; whenever it cannot be trusted (the
last run did not stop cleanly, the index is missing or was moved) the JVM's bootstrap rebuilds it from the
graph before Atlas serves, so a half-empty catalog is never served. `reset` wipes on purpose.

One launcher at a time works on a state directory (a lock says who holds it); downloads (the war and its
unpacked copy) live in a shared cache, locked and checksummed likewise (artifacts.py), so several state dirs
(the demo's, the test suite's) share one 290 MB download.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests
from platformdirs import user_cache_dir
from pydantic import BaseModel, Field, field_validator

from atlas_mlplugin.filelock import exclusive
from atlas_mlplugin.scrubbing import logger
from atlas_mlplugin.server import artifacts, icons
from atlas_mlplugin.server.configuration import ExternalKafka, Ports, write_configuration, write_private
from atlas_mlplugin.server.errors import LauncherError
from atlas_mlplugin.server.state import StateDir, free_port

log = logger(__name__)

ADMIN_USER = "admin"
ADMIN_PASSWORD_ENV = "ATLAS_ML_ADMIN_PASSWORD"
# The embedded broker's listener for Kafka clients elsewhere (configuration.ExternalKafka): the port it listens on
# at the bind address, and the HOST:PORT those clients reach it at (default localhost and that port).
KAFKA_PORT_ENV = "ATLAS_ML_KAFKA_PORT"
KAFKA_ADVERTISED_ENV = "ATLAS_ML_KAFKA_ADVERTISED"
# The JVM runs the bootstrap script with the war's own Groovy; the bootstrap then calls org.apache.atlas.Atlas.
MAIN_CLASS = "groovy.ui.GroovyMain"
PROGRESS_PREFIX = "atlas-ml: "


def default_state_dir() -> Path:
    return Path(os.environ.get("ATLAS_ML_STATE_DIR") or Path(user_cache_dir("atlas-mlplugin")) / "local-atlas")


def default_download_dir() -> Path:
    return Path(os.environ.get("ATLAS_ML_DOWNLOAD_DIR") or Path(user_cache_dir("atlas-mlplugin")) / "downloads")


class LauncherOptions(BaseModel):
    state_dir: Path = Field(default_factory=default_state_dir)
    download_dir: Path = Field(default_factory=default_download_dir)
    port: int = 21000
    bind_address: str = "127.0.0.1"
    version: str = Field(default_factory=lambda: os.environ.get("ATLAS_ML_ATLAS_VERSION",
                                                                  artifacts.DEFAULT_ATLAS_VERSION))
    war: Path | None = Field(default_factory=lambda: Path(w) if (w := os.environ.get("ATLAS_ML_ATLAS_WAR"))
                             else None)
    # An unpacked war (e.g. baked into a container image by `atlas-ml server prepare`): no download, no unpack.
    webapp: Path | None = Field(default_factory=lambda: Path(w) if (w := os.environ.get("ATLAS_ML_ATLAS_WEBAPP"))
                                else None)
    heap: str = "1536m"
    start_timeout: float = 600.0
    reindex: bool = False  # rebuild the search index from the graph at start, even after a clean stop
    kafka_port: str | None = Field(default_factory=lambda: os.environ.get(KAFKA_PORT_ENV) or None)
    kafka_advertised: str | None = Field(default_factory=lambda: os.environ.get(KAFKA_ADVERTISED_ENV) or None)

    def external_kafka(self) -> ExternalKafka | None:
        """The broker's listener for clients outside (a container's published port), or None when not asked for."""
        if self.kafka_port is None:
            if self.kafka_advertised is not None:
                raise LauncherError(f"{KAFKA_ADVERTISED_ENV}={self.kafka_advertised} needs {KAFKA_PORT_ENV} too",
                                    hint=f"set {KAFKA_PORT_ENV} to the port the broker listens on for those clients")
            return None
        try:
            port = int(self.kafka_port)
            return ExternalKafka(port=port, advertised=self.kafka_advertised or f"localhost:{port}")
        except ValueError:  # not a number, or a pydantic ValidationError (a ValueError) naming the field
            raise LauncherError(f"{KAFKA_PORT_ENV}={self.kafka_port!r} / {KAFKA_ADVERTISED_ENV}="
                                f"{self.kafka_advertised!r} is not a port and a HOST:PORT",
                                hint=f"e.g. {KAFKA_PORT_ENV}=9092 {KAFKA_ADVERTISED_ENV}=localhost:39092") from None

    @field_validator("state_dir", "download_dir", "war", "webapp")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # The JVM runs inside the state dir, so a relative path would be read relative to itself.
        return value.expanduser().resolve() if value is not None else None


class InstanceRecord(BaseModel):
    """What `start` leaves behind so that `status` and `stop` find the server again."""

    pid: int
    ports: Ports
    bind_address: str
    version: str
    started_at: float


class ServerStatus(BaseModel):
    running: bool
    # ACTIVE and not being set up (`server run` applying our types): clients may write.
    ready: bool = False
    url: str
    user: str
    password: str
    version: str
    pid: int | None = None
    atlas_status: str | None = None
    state_dir: str
    log_file: str
    rss_mb: float | None = None
    peak_rss_mb: float | None = None
    # The embedded Kafka broker Atlas's hook consumer reads ATLAS_HOOK from (for the kafka transport).
    kafka_bootstrap_servers: str | None = None


Progress = Callable[[str], None]


_free_port = free_port


def _with_icons(webapp: Path) -> Path:
    """The unpacked war with icons for our types (called holding the download lock, like the unpacking):
    without them the UI asks for img/entity-icon/ml_*.png in vain and shows a generic table."""
    icons.install(webapp)
    return webapp


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _proc_memory_mb(pid: int) -> tuple[float | None, float | None]:
    """Current and peak resident memory of a process, from /proc (Linux)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None, None
    values: dict[str, float] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS"), values.get("VmHWM")


class LocalAtlas:
    """One local Atlas server bound to a state directory."""

    def __init__(self, options: LauncherOptions | None = None) -> None:
        self.options = options or LauncherOptions()
        self.home = self.options.state_dir
        self.state = StateDir(self.home)

    def _locked(self, action: str, progress: Progress):  # noqa: ANN202 - a context manager
        """Hold this state dir's lock: one launcher at a time starts, stops or resets a server."""
        self.home.mkdir(parents=True, exist_ok=True)

        def waiting(holder: str) -> None:
            progress(f"Waiting for another atlas-ml ({holder or 'a process'}) to finish with {self.home} ...")

        return exclusive(self.state.lock_file, None, owner=f"pid {os.getpid()}: server {action}", on_wait=waiting)

    # --- files -------------------------------------------------------------------------------------
    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "application.log"

    @property
    def _stdout_file(self) -> Path:
        return self.home / "logs" / "stdout.log"

    @property
    def _instance_file(self) -> Path:
        return self.home / "instance.json"

    def credentials(self) -> tuple[str, str]:
        """The admin credentials of this state dir, generated on first use and kept across restarts;
        ATLAS_ML_ADMIN_PASSWORD sets the password instead (containers, whose users cannot read the file)."""
        path = self.home / "credentials.json"
        given = os.environ.get(ADMIN_PASSWORD_ENV)
        if path.is_file():
            data = json.loads(path.read_text())
            if not given or given == data["password"]:
                return data["user"], data["password"]
        self.home.mkdir(parents=True, exist_ok=True)
        password = given or secrets.token_urlsafe(12)
        write_private(path, json.dumps({"user": ADMIN_USER, "password": password}))
        return ADMIN_USER, password

    def _instance(self) -> InstanceRecord | None:
        try:
            return InstanceRecord.model_validate_json(self._instance_file.read_text())
        except (OSError, ValueError):
            return None

    def _alive(self, record: InstanceRecord | None) -> bool:
        """True when the recorded pid is still our Atlas JVM (not a recycled pid)."""
        if record is None:
            return False
        try:
            cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return False
        return MAIN_CLASS in cmdline and f"-Datlas.home={self.home}" in cmdline

    @staticmethod
    def _exists(pid: int) -> bool:
        """True until the process is fully gone. A JVM that is exiting loses its cmdline before it
        closes its files and sockets, so `_alive` turns False too early to restart on the same
        BerkeleyDB directory and ports; and a killed JVM's main thread turns zombie while its other
        threads are still exiting, holding the sockets, so every thread is looked at."""
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            return False
        for task in tasks:
            try:
                state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z":
                return True
        return False

    def url_for(self, record: InstanceRecord | None = None) -> str:
        port = record.ports.http if record else self.options.port
        host = record.bind_address if record else self.options.bind_address
        if host in ("0.0.0.0", ""):  # bound to every interface (in a container): reach it over loopback
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    def log_tail(self, lines: int = 40) -> str:
        chunks = []
        for path in (self.log_file, self._stdout_file):
            if path.is_file():
                text = path.read_text(errors="replace").splitlines()
                chunks.append(f"[{path}]\n" + "\n".join(text[-lines:]))
        return "\n".join(chunks) or "(no server log yet)"

    # --- status ------------------------------------------------------------------------------------
    def _atlas_status(self, url: str) -> str | None:
        try:
            resp = requests.get(f"{url}/api/atlas/admin/status", timeout=(2, 5))
            if resp.ok:
                return str(resp.json().get("Status"))
            return f"HTTP {resp.status_code}"
        except (requests.RequestException, ValueError):
            return None

    def status(self) -> ServerStatus:
        record = self._instance()
        alive = self._alive(record)
        user, password = self.credentials()
        url = self.url_for(record if alive else None)
        rss, peak = _proc_memory_mb(record.pid) if (alive and record) else (None, None)
        atlas_status = self._atlas_status(url) if alive else None
        running = alive and atlas_status == "ACTIVE"
        return ServerStatus(
            running=running,
            ready=running and not self.state.setting_up(self._exists),
            url=url,
            user=user,
            password=password,
            version=record.version if (alive and record) else self._version(),
            pid=record.pid if (alive and record) else None,
            atlas_status=atlas_status,
            state_dir=str(self.home),
            log_file=str(self.log_file),
            rss_mb=rss,
            peak_rss_mb=peak,
            kafka_bootstrap_servers=self.kafka_bootstrap_servers() if alive else None,
        )

    def kafka_bootstrap_servers(self) -> str | None:
        """atlas.kafka.bootstrap.servers as this server was configured with it (its conf/), or None."""
        from atlas_mlplugin.atlas.config import parse_properties

        try:
            text = (self.home / "conf" / "atlas-application.properties").read_text(encoding="utf-8")
        except OSError:
            return None
        found = [value.strip() for _, key, value in parse_properties(text) if key == "atlas.kafka.bootstrap.servers"]
        return found[-1] if found and found[-1] else None

    def _version(self) -> str:
        return self.options.version if self.options.war is None else f"{self.options.war.name}"

    # --- start -------------------------------------------------------------------------------------
    def prepare(self, progress: Progress) -> tuple[Path, Path]:
        """Everything before the JVM starts: Java, the war, its unpacked copy. Idempotent and cached; the
        shared download cache is locked while it changes."""
        java = artifacts.find_java11()
        if self.options.webapp is not None:
            if not (self.options.webapp / "WEB-INF" / "lib").is_dir():
                raise LauncherError(f"ATLAS_ML_ATLAS_WEBAPP points to {self.options.webapp}, which is not an unpacked "
                                    "Atlas war (no WEB-INF/lib).",
                                    hint="point it at the directory `atlas-ml server prepare` printed, or unset it")
            return java, self.options.webapp
        if self.options.war is not None:
            if not self.options.war.is_file():
                raise LauncherError(f"ATLAS_ML_ATLAS_WAR points to {self.options.war}, which does not exist.",
                                    hint="unset ATLAS_ML_ATLAS_WAR to download Atlas from Maven Central")
            war = self.options.war
            webapp = self.options.download_dir / f"{war.stem}-unpacked"
            with artifacts.download_lock(self.options.download_dir, progress):
                if not (webapp / ".unpacked").is_file():
                    progress(f"Unpacking {war.name} ...")
                return java, _with_icons(artifacts.unpack_war(war, webapp))
        with artifacts.download_lock(self.options.download_dir, progress):
            war = self.options.download_dir / f"atlas-webapp-{self.options.version}.war"
            if not war.is_file():
                progress(f"Downloading Apache Atlas {self.options.version} (about 290 MB, once) ...")
            war = artifacts.download_war(self.options.version, self.options.download_dir)
            webapp = self.options.download_dir / f"{war.stem}-unpacked"
            if not (webapp / ".unpacked").is_file():
                progress(f"Unpacking {war.name} ...")
            return java, _with_icons(artifacts.unpack_war(war, webapp))

    def start(self, *, progress: Progress = log.info) -> ServerStatus:
        """Start the server in the background and wait until it is ACTIVE; a no-op when it already runs.

        The catalog of earlier runs is kept. When the search index cannot be trusted (the last run did not
        stop cleanly, or the index is missing) the JVM rebuilds it from the graph before Atlas serves, and
        the progress says so."""
        with self._locked("start", progress):
            record = self._instance()
            if self._alive(record):
                status = self.status()
                if status.running:
                    progress(f"Atlas is already running at {status.url} (pid {status.pid}).")
                    return status
                assert record is not None
                return self._wait_active(record, progress)
            return self._launch(progress)

    def _launch(self, progress: Progress) -> ServerStatus:
        external_kafka = self.options.external_kafka()  # a wrong setting fails before anything is downloaded
        if _port_in_use(self.options.bind_address, self.options.port):
            raise LauncherError(
                f"Port {self.options.port} on {self.options.bind_address} is already in use by another program.",
                hint="stop that program, or choose another port: `atlas-ml server start --port 21001`",
            )
        java, webapp = self.prepare(progress)

        user, password = self.credentials()
        solr_port, moved = self.state.solr_port()
        if moved:
            progress(moved)
        ports = Ports(http=self.options.port, kafka_zookeeper=_free_port(), kafka_broker=_free_port(), solr=solr_port)
        conf = write_configuration(home=self.home, ports=ports, bind_address=self.options.bind_address,
                                   user=user, password=password, external_kafka=external_kafka)
        unclean = self.state.unclean_stop()
        if unclean:
            self.state.forget_after_unclean_stop()
        reindex = unclean or ("asked for (--reindex)" if self.options.reindex else "")
        artifacts.extract_solr_templates(webapp, self.state.solr)
        solr_home = self.state.prepare_solr_home()
        script, audit_source, classes = self.state.install_bootstrap()
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.state.data.mkdir(parents=True, exist_ok=True)
        if (self.state.data / "berkeley").is_dir():
            progress("Keeping the catalog of earlier runs" + (f"; the search index is rebuilt: {reindex}."
                                                              if reindex else "."))

        cmd = [
            str(java), f"-Xmx{self.options.heap}", "-XX:+UseG1GC",
            f"-Datlas.home={self.home}", f"-Datlas.conf={conf}", f"-Datlas.data={self.state.data}",
            f"-Datlas.log.dir={self.home / 'logs'}", "-Datlas.log.file=application.log",
            f"-Dembedded.solr.directory={self.state.solr}", f"-Dsolr.log.dir={self.home / 'logs'}",
            f"-Datlasml.solr.home={solr_home}", f"-Datlasml.solr.port={ports.solr}",
            f"-Datlasml.audit.source={audit_source}", f"-Datlasml.classes={classes}",
            f"-Datlasml.reindex={reindex}",
            "-Dlog4j.configuration=atlas-log4j.xml", "-Djava.net.preferIPv4Stack=true",
            "-Djava.awt.headless=true",
            # Groovy 2.5 on Java 11 reaches into java.lang and java.lang.invoke; allow it rather than warn.
            "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
            "-cp", os.pathsep.join([str(conf), str(classes), str(webapp / "WEB-INF" / "classes"),
                                    str(webapp / "WEB-INF" / "lib" / "*")]),
            MAIN_CLASS, str(script), "-app", str(webapp),
        ]
        progress(f"Starting Atlas {self._version()} on {self.url_for()} (state in {self.home}) ...")
        with open(self._stdout_file, "wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.home, start_new_session=True,
            )
        # Until a stop says otherwise, this run counts as one that did not stop cleanly.
        self.state.mark_running(proc.pid)
        record = InstanceRecord(pid=proc.pid, ports=ports, bind_address=self.options.bind_address,
                                version=self._version(), started_at=time.time())
        self._instance_file.write_text(record.model_dump_json())
        return self._wait_active(record, progress, proc=proc)

    def _wait_active(self, record: InstanceRecord, progress: Progress,
                     proc: subprocess.Popen[bytes] | None = None) -> ServerStatus:
        url = self.url_for(record)
        deadline = time.monotonic() + self.options.start_timeout
        started = time.monotonic()
        last_report = started
        relayed = 0  # bytes of the JVM's output already searched for progress lines
        while time.monotonic() < deadline:
            relayed = self._relay_progress(relayed, progress)
            # The child's own exit status is the authority when we started it; a server found running
            # by an earlier `start` is watched through /proc.
            exited = proc.poll() is not None if proc is not None else not self._exists(record.pid)
            if exited:
                self._instance_file.unlink(missing_ok=True)
                raise LauncherError(
                    "Atlas exited during startup.", log_tail=self.log_tail(),
                    hint=f"read the log above (the full log is {self.log_file}); check that no other "
                    "Atlas uses this state directory",
                )
            if self._atlas_status(url) == "ACTIVE":
                progress(f"Atlas is ACTIVE at {url} after {time.monotonic() - started:.0f} s.")
                return self.status()
            if time.monotonic() - last_report >= 15:
                last_report = time.monotonic()
                progress(f"  still starting ({time.monotonic() - started:.0f} s) ...")
            time.sleep(1.0)
        self._stop(60.0, progress)
        raise LauncherError(
            f"Atlas did not become ACTIVE within {self.options.start_timeout:.0f} s; it was stopped.",
            log_tail=self.log_tail(),
            hint="a slow machine may need more time: `atlas-ml server start --timeout 1200`",
        )

    def _relay_progress(self, offset: int, progress: Progress) -> int:
        """Show the bootstrap's "atlas-ml: ..." lines (index rebuilds) as they appear; returns the new offset."""
        try:
            with open(self._stdout_file, "rb") as out:
                out.seek(offset)
                chunk = out.read()
        except OSError:
            return offset
        complete = chunk[: chunk.rfind(b"\n") + 1]
        for line in complete.decode("utf-8", errors="replace").splitlines():
            if line.startswith(PROGRESS_PREFIX):
                progress("  " + line[len(PROGRESS_PREFIX):])
        return offset + len(complete)

    # --- stop --------------------------------------------------------------------------------------
    def stop(self, timeout: float = 60.0, progress: Progress = log.info) -> bool:
        """Stop the server and wait for its JVM to exit; returns False when none was running.

        A JVM that exits on SIGTERM has run its shutdown hooks (Atlas, Solr and the audit store close and
        commit), so the next start trusts the index; one that has to be killed leaves the run marked
        unclean, and the next start rebuilds the index from the graph."""
        with self._locked("stop", progress):
            return self._stop(timeout, progress)

    def _stop(self, timeout: float, progress: Progress) -> bool:
        record = self._instance()
        if not self._alive(record):
            self._instance_file.unlink(missing_ok=True)
            return False
        assert record is not None
        progress(f"Stopping Atlas (pid {record.pid}) ...")
        self._signal(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._exists(record.pid):
            time.sleep(0.5)
        if self._exists(record.pid):
            log.warning("Atlas did not stop within %.0f s; killing it (the next start rebuilds its search index)",
                        timeout)
            self._signal(record.pid, signal.SIGKILL)
            while self._exists(record.pid):
                time.sleep(0.2)
        else:
            self.state.mark_stopped_cleanly()
        self._instance_file.unlink(missing_ok=True)
        return True

    # --- foreground ----------------------------------------------------------------------------------
    def run(self, *, progress: Progress = log.info, on_ready: Callable[[ServerStatus], None] | None = None) -> int:
        """Start, then stay in the foreground until the server exits by itself (returns 1) or this process
        is asked to stop with SIGTERM or SIGINT (stops it cleanly, returns 0): for containers and service
        managers, which signal the main process and expect it to take its server down with it."""
        stopping = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            # Not ready for clients until on_ready (our types) is done: see StateDir.setup_marker.
            self.state.mark_setting_up(os.getpid())
            status = self.start(progress=progress)
            if on_ready is not None and not stopping.is_set():
                on_ready(status)
            self.state.mark_set_up()
            while not stopping.wait(1.0):
                if status.pid is None or not self._exists(status.pid):
                    progress(f"Atlas exited by itself; the end of its log:\n{self.log_tail(20)}")
                    return 1
            self.stop(progress=progress)
            return 0
        finally:
            self.state.mark_set_up()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # --- reset -------------------------------------------------------------------------------------
    def reset(self, progress: Progress = log.info) -> list[str]:
        """Stop the server if it runs and wipe its catalog, index, audit and logs (the credentials stay);
        returns what was removed."""
        with self._locked("reset", progress):
            self._stop(60.0, progress)
            return self.state.wipe()

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        # The JVM leads its own session (start_new_session), so the group holds it and nothing else.
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            os.kill(pid, sig)
