"""`atlas-ml apply` of a catalog with names Atlas must not get (empty, NUL, a bidi override, 100,000
characters) against the real Atlas: it exits non-zero, names FILE:LINE of every one of them at once, and
writes nothing, not even the valid entries beside them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def apply(settings: AtlasSettings, path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "ATLAS_URL": settings.url, "ATLAS_USER": settings.username or "",
           "ATLAS_PASSWORD": settings.password.get_secret_value() if settings.password else ""}
    return subprocess.run([sys.executable, "-m", "atlas_mlplugin.cli", "apply", str(path)], env=env,
                          capture_output=True, text=True, timeout=300)


def assert_refused_at(result: subprocess.CompletedProcess[str], path: Path, lines: dict[str, int]) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    errors = result.stderr.splitlines()
    for what, line in lines.items():
        assert any(e.startswith((f"{path}:{line}:", f"error: {path}:{line}:")) for e in errors), (what, errors)


def test_apply_of_bad_names_writes_nothing_and_names_every_line(atlas_settings: AtlasSettings, client: AtlasClient,
                                                                  uid: str, tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("\n".join([
        "version: 1",
        "consent_records:",
        f"  - {{qualified_name: consent:{uid}/ok, name: fine}}",
        '  - {qualified_name: "consent:' + uid + '/\\0nul", name: NUL}',
        "datasets:",
        f"  - {{qualified_name: file:///{uid}/ok, name: fine, license: CC0-1.0, consent_records: [consent:{uid}/ok]}}",
        '  - {qualified_name: "", name: empty}',
        '  - {qualified_name: "file:///' + uid + '/\\u202Egpj.exe", name: bidi}',
        f"  - {{qualified_name: file:///{uid}/{'x' * 100_000}, name: long}}",
    ]) + "\n", encoding="utf-8")

    result = apply(atlas_settings, path)

    assert_refused_at(result, path, {"NUL": 4, "empty": 7, "bidi": 8, "100k": 9})
    assert "U+0000" in result.stderr and "U+202E" in result.stderr and "is empty" in result.stderr
    assert "is 100,0" in result.stderr and "characters long" in result.stderr
    assert len(result.stderr) < 5_000, "the 100,000-character name should not be echoed back"
    # Nothing was written: neither the bad entries nor the valid ones beside them.
    assert client.find_entity("ml_consent_record", f"consent:{uid}/ok") is None
    assert client.find_entity("ml_dataset", f"file:///{uid}/ok") is None


def test_apply_reports_problems_of_every_kind_at_once(atlas_settings: AtlasSettings, client: AtlasClient, uid: str,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("\n".join([
        "version: 1",
        "datasets:",
        f"  - {{qualified_name: file:///{uid}/ok, name: fine, license: CC0-1.0}}",
        '  - {qualified_name: "", name: empty}',
        f"  - {{qualified_name: file:///{uid}/fingerprinted, name: missing, local_path: {uid}-missing.csv}}",
        f"  - {{qualified_name: file:///{uid}/unlicensed, name: typo, license: CC-BY-NC-4}}",
    ]) + "\n", encoding="utf-8")

    result = apply(atlas_settings, path)

    assert_refused_at(result, path, {"empty": 4, "local_path": 5, "license": 6})
    assert f"{tmp_path / (uid + '-missing.csv')}: no such file or directory" in result.stderr
    assert client.find_entity("ml_dataset", f"file:///{uid}/ok") is None
