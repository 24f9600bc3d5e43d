"""The package as `pip install` delivers it: the wheel is built from this checkout, installed into a fresh
virtualenv, and used from outside the checkout. `atlas-ml spark conf` must find the listener jar inside the
installed package, `configure(builder)` must load it into a real local PySpark job that then spools its
OpenLineage event, and the JSON Schemas must come from the package. No Atlas is needed.

The virtualenv gets the wheel with --no-deps and sees the project venv's site-packages (pyspark, pydantic,
click ...) through a .pth line, so nothing is downloaded; a plain path line does not run the .pth files
there, so the checkout's editable install stays out and the test asserts the package is the installed one.
Needs the listener jars built (`make listener`; `make test` builds them first) and Java 17 for Spark 4.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JOB = """
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from atlas_mlplugin.spark import configure

work, spool = Path(sys.argv[1]), Path(sys.argv[2])
builder = (SparkSession.builder.master("local[1]").appName("wheel-check")
           .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
           .config("spark.driver.bindAddress", "127.0.0.1")
           .config("spark.sql.warehouse.dir", str(work / "warehouse")))
spark = configure(builder, spool_dir=spool).getOrCreate()
(work / "in.csv").write_text("a,b\\n1,2\\n3,4\\n")
spark.read.option("header", True).csv(str(work / "in.csv")).write.mode("overwrite").parquet(str(work / "out.parquet"))
spark.stop()
print("JOB OK")
"""


def run(argv: list[str], cwd: Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    # Nothing of the checkout may leak in: no PYTHONPATH, no SPARK_HOME, a working directory outside it.
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPARK_HOME", "VIRTUAL_ENV")}
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                         env={**clean, "SPARK_LOCAL_IP": "127.0.0.1", **env})
    assert out.returncode == 0, f"{argv} exited {out.returncode}:\n{out.stdout}\n{out.stderr[-4000:]}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    # --no-isolation: the build backend comes from the project venv (the test extra), so no download
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)], cwd=dist)
    (found,) = dist.glob("atlas_mlplugin-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("fresh") / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(home)], cwd=home.parent)
    python = home / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    cwd=home.parent).stdout.strip())
    (site / "project-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index",
         str(wheel)], cwd=home.parent)
    yield home


def test_the_wheel_holds_both_jars_and_the_schemas(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for scala in ("2.12", "2.13"):
        assert f"atlas_mlplugin/_jars/atlas-mlplugin-spark-listener_{scala}-0.1.0.jar" in names
    assert {"atlas_mlplugin/_schemas/catalog.schema.json", "atlas_mlplugin/_schemas/check-report.schema.json"} <= names


def test_installed_package_enables_the_listener_in_a_real_spark_job(venv: Path, tmp_path: Path) -> None:
    bin_ = venv / "bin"
    where = run([str(bin_ / "python"), "-c", "import atlas_mlplugin; print(atlas_mlplugin.__file__)"],
                cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(venv), f"atlas_mlplugin imported from {where}, not the installed wheel"

    conf = json.loads(run([str(bin_ / "atlas-ml"), "spark", "conf", "--format", "json"], cwd=tmp_path).stdout)
    jar = Path(conf["jar"])
    assert jar.is_file() and jar.is_relative_to(Path(where).parent / "_jars"), conf
    import pyspark  # the Spark the installed package sees is the project venv's

    scala = next((Path(pyspark.__file__).parent / "jars").glob("scala-library-*.jar")).name.split("-")[2][:4]
    assert conf["scala_version"] == scala and f"_{scala}-" in jar.name
    text = run([str(bin_ / "atlas-ml"), "spark", "conf"], cwd=tmp_path).stdout
    assert text.splitlines()[0] == f"--jars {jar}"

    spool = tmp_path / "spool"
    (tmp_path / "job.py").write_text(JOB)
    assert "JOB OK" in run([str(bin_ / "python"), "job.py", str(tmp_path), str(spool)], cwd=tmp_path).stdout
    events = [json.loads(p.read_text()) for p in sorted(spool.glob("*.json"))]
    writes = [e for e in events if e["eventType"] == "COMPLETE"
              and any(o["name"] == str(tmp_path / "out.parquet") for o in e["outputs"])]
    assert writes, f"no COMPLETE event for out.parquet in {spool}: {[e['job']['name'] for e in events]}"
    assert [(i["namespace"], i["name"]) for i in writes[0]["inputs"]] == [("file", str(tmp_path / "in.csv"))]
    assert writes[0]["producer"].startswith("urn:atlas-mlplugin:spark-listener:")


@pytest.mark.parametrize(("command", "published"), [("apply", "schemas/catalog.schema.json"),
                                                     ("check", "docs/check-report.schema.json")])
def test_installed_package_prints_the_schemas(venv: Path, tmp_path: Path, command: str, published: str) -> None:
    out = run([str(venv / "bin" / "atlas-ml"), command, "--schema"], cwd=tmp_path).stdout
    assert out == (ROOT / published).read_text()
