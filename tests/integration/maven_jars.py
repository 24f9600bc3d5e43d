"""Jars the tests need from Maven Central, resolved by Maven once into .state/jars."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

JAR_DIR = Path(__file__).resolve().parents[2] / ".state" / "jars"


def maven_jar(group: str, artifact: str, version: str) -> Path:
    jar = JAR_DIR / f"{artifact}-{version}.jar"
    if jar.is_file():
        return jar
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven ('mvn') is needed to fetch test jars from Maven Central")
    JAR_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([mvn, "-B", "-ntp", "-q", "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy",
                    f"-Dartifact={group}:{artifact}:{version}", f"-DoutputDirectory={JAR_DIR}"],
                   check=True, cwd=JAR_DIR)
    return jar
