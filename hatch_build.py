"""Build hook: the Spark listener jars (Scala 2.12 and 2.13) go into the wheel as atlas_mlplugin/_jars/.

A wheel without them would install fine and fail only later, when a Spark job is configured, on a machine
where nobody can run Maven. So a standard wheel (or sdist) build fails, naming the missing or stale jar and
the command that builds it, unless ATLAS_ML_WHEEL_WITHOUT_LISTENER=1 asks for a Python-only build on
purpose (`atlas-ml spark conf` then says the jar is not in this installation). Editable installs
(`make venv`) take no copy: they use spark_listener/target/ of the checkout, which may be built later.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SCALA_VERSIONS = ("2.12", "2.13")
OPT_OUT = "ATLAS_ML_WHEEL_WITHOUT_LISTENER"
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def listener_version(listener_dir: Path) -> str:
    version = ET.parse(listener_dir / "pom.xml").getroot().findtext("m:version", namespaces=POM_NS)
    if not version:
        raise RuntimeError(f"{listener_dir / 'pom.xml'} has no <version>")
    return version.strip()


def newest_source_mtime(listener_dir: Path) -> float:
    files = [listener_dir / "pom.xml", *listener_dir.joinpath("src", "main").rglob("*")]
    return max(f.stat().st_mtime for f in files if f.is_file())


def listener_jars(root: Path) -> dict[str, Path]:
    """Scala version -> built jar; raises naming every jar that is missing or older than its sources."""
    listener_dir = root / "spark_listener"
    version = listener_version(listener_dir)
    newest = newest_source_mtime(listener_dir) if listener_dir.joinpath("src").is_dir() else 0.0
    jars, problems = {}, []
    for scala in SCALA_VERSIONS:
        jar = listener_dir / "target" / scala / f"atlas-mlplugin-spark-listener_{scala}-{version}.jar"
        if not jar.is_file():
            problems.append(f"{jar.relative_to(root)} is missing")
        elif jar.stat().st_mtime < newest:  # a wheel must not ship a listener older than its sources
            problems.append(f"{jar.relative_to(root)} is older than spark_listener/src")
        jars[scala] = jar
    if problems:
        raise RuntimeError(
            "the wheel ships the Spark listener jars, but " + "; ".join(problems) + ". Build them first with "
            "`make listener` (Maven 3.8 and Java 17), or set " + OPT_OUT + "=1 to build a package "
            "without the listener on purpose.")
    return jars


class ListenerJarsHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "editable":
            return
        if os.environ.get(OPT_OUT, "").strip().lower() in ("1", "true", "yes"):
            self.app.display_warning(f"{OPT_OUT} is set: building without the Spark listener jars")
            return
        root = Path(self.root)
        for scala, jar in listener_jars(root).items():
            # The wheel holds them inside the package; the sdist keeps them at their checkout path, so that
            # a wheel built from the sdist (as pip does) finds them there without Maven.
            target = (f"atlas_mlplugin/_jars/{jar.name}" if self.target_name == "wheel"
                      else jar.relative_to(root).as_posix())
            build_data["force_include"][str(jar)] = target
            self.app.display_info(f"listener for Scala {scala}: {jar.relative_to(root)} -> {target}")
