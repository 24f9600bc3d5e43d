"""The secrets audit: credentials of every shape we know are seeded into OpenLineage events (posted to the
receiver and dropped into its event directory, valid and malformed), catalog files (applied and invalid), the
Python API's spooled writes (delivered and dead-lettered) and configuration (a properties file, the
environment, the receiver's token file). Then everything is searched for them:

- everything Atlas stores: every entity, its tags and audit events over the REST API, and every byte under
  the server's state directory (graph, search index, audit store, Atlas's own logs);
- every file and log the product writes: spool and dead letters, the event directory and rejected/, the
  output and `-v` logs of every command run.

Each seeded credential has a random core of its own, so a find says which shape leaked through which way.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from atlas_mlplugin import api
from atlas_mlplugin.model import DatasetSpec
from atlas_mlplugin.openlineage.ingest import event_queue
from tests.integration.conftest import free_port
from tests.reliability.census import FIGURES
from tests.reliability.conftest import ATLAS_ML, STATE_DIR, FaultAtlas
from tests.reliability.test_faults import deliverer_for, settle

pytestmark = [pytest.mark.integration, pytest.mark.representative]


def _core(length: int = 16, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "Q" + "".join(secrets.choice(alphabet) for _ in range(length - 1))


# name -> template with {s} where the secret goes, and how the secret core is made for this shape
SHAPES: dict[str, tuple[str, str]] = {
    "JDBC password parameter": ("jdbc:postgresql://db.example.com:5432/app?user=alice&password={s}", "plain"),
    "JDBC ;password= (SQL Server)": ("jdbc:sqlserver://db.example.com:1433;databaseName=x;password={s}", "plain"),
    "URI userinfo": ("postgresql://alice:{s}@db.example.com:5432/app", "plain"),
    "Oracle thin user/secret@": ("jdbc:oracle:thin:scott/{s}@//db.example.com:1521/ORCL", "plain"),
    "bare Oracle user/secret@host": ("scott/{s}@orcl", "plain"),
    "Azure SAS signature": ("https://acct.blob.core.windows.net/c/f.csv?sv=2021-06-08&sp=r&sig={s}", "plain"),
    "Azure AccountKey": ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={s}==;EndpointSuffix=x", "plain"),
    "S3 key in userinfo": ("s3a://AKIAIOSFODNN7EXAMPLE:{s}@bucket/key", "plain"),
    "AWS access key id": ("{s}", "aws"),
    "AWS presigned URL": ("https://s3.amazonaws.com/b/k?X-Amz-Algorithm=AWS4&X-Amz-Signature={s}", "plain"),
    "Authorization: Bearer": ("Authorization: Bearer {s}", "plain"),
    "Authorization: Basic": ("Authorization: Basic {s}", "plain"),
    "password= after a space": ("password= {s}", "plain"),
    "api_key=": ("api_key={s}", "plain"),
    "token: ": ("token: {s}", "plain"),
    "client_secret=": ("client_secret={s}", "plain"),
    "JWT": ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.{s}", "plain"),
    "GitHub token": ("ghp_{s}", "github"),
    "private key": ("-----BEGIN PRIVATE KEY-----\n{s}\n-----END PRIVATE KEY-----", "plain"),
}


@dataclass(frozen=True)
class Seed:
    shape: str
    carrier: str
    core: str  # what must not be found anywhere
    text: str  # the credential as seeded


class Seeds:
    def __init__(self) -> None:
        self.all: list[Seed] = []

    def new(self, shape: str, carrier: str) -> Seed:
        template, kind = SHAPES[shape]
        if kind == "aws":
            core = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))
        elif kind == "github":
            core = _core(36)
        else:
            core = _core()
        seed = Seed(shape, carrier, core, template.format(s=core))
        self.all.append(seed)
        return seed

    def each(self, carrier: str) -> list[Seed]:
        return [self.new(shape, carrier) for shape in SHAPES]


# In a path, a bare `user/secret@host` cannot be told from a folder and a file with an '@' in its name
# (`models/resnet@v2`), so names keep it; in text (job names, facets, descriptions) it is scrubbed.
NOT_IN_PATHS = frozenset({"bare Oracle user/secret@host"})


def find_cores(seeds: list[Seed], roots: list[Path], texts: dict[str, str]) -> dict[str, list[str]]:
    """For each seed core: where it was found (file paths and named texts)."""
    found: dict[str, list[str]] = {}
    pattern = re.compile("|".join(re.escape(s.core) for s in seeds).encode())
    for root in roots:
        for path in [root] if root.is_file() else root.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            try:
                with path.open("rb") as handle:
                    tail = b""
                    while chunk := handle.read(1 << 22):
                        for match in pattern.finditer(tail + chunk):
                            found.setdefault(match.group().decode(), []).append(str(path))
                        tail = chunk[-64:]
            except OSError:
                continue
    for name, text in texts.items():
        for match in pattern.finditer(text.encode()):
            found.setdefault(match.group().decode(), []).append(name)
    return found


def run(outputs: dict[str, str], name: str, args: list[str], env: dict[str, str], timeout: float = 600
        ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    outputs[f"{name} stdout"] = done.stdout
    outputs[f"{name} stderr"] = done.stderr
    return done


def atlas_dump(atlas: FaultAtlas, since_ms: int) -> str:
    """Every entity Atlas holds that changed since the test began, with tags and audit events, as text."""
    client = atlas.client()
    texts: list[str] = []
    offset = 0
    while True:
        page = client.request("POST", "/v2/search/basic", json={
            "typeName": "_ALL_ENTITY_TYPES", "excludeDeletedEntities": False, "limit": 100, "offset": offset,
            "includeClassificationAttributes": True}) or {}
        entities = page.get("entities") or []
        for header in entities:
            guid = header["guid"]
            entity = client.get_entity(guid)
            if (entity.get("entity") or {}).get("updateTime", since_ms) < since_ms:
                continue
            texts.append(json.dumps(entity))
            texts.append(json.dumps(client.request("GET", f"/v2/entity/{guid}/audit", params={"count": 100})))
        if len(entities) < 100:
            return "\n".join(texts)
        offset += 100


def test_no_seeded_secret_is_found_anywhere(fault_atlas: FaultAtlas, tmp_path: Path) -> None:
    seeds = Seeds()
    outputs: dict[str, str] = {}
    started_ms = int(time.time() * 1000) - 1000
    uid = uuid.uuid4().hex[:8]
    events_dir, spool_dir = tmp_path / "events", tmp_path / "spool"

    # --- configuration: a properties file with a wrong password, the environment, the receiver's token ---
    wrong_password = seeds.new("password= after a space", "config: atlas.password in a properties file")
    properties = tmp_path / "atlas.properties"
    properties.write_text(f"atlas.url={fault_atlas.settings.url}\natlas.username=admin\n"
                          f"atlas.password={wrong_password.core}\n")
    run(outputs, "status with a wrong password", [*ATLAS_ML, "-v", "--config", str(properties), "lineage",
                                                  "file:///nothing"], fault_atlas.cli_env())
    env_password = seeds.new("password= after a space", "config: ATLAS_PASSWORD of an unreachable Atlas")
    unreachable = fault_atlas.cli_env(ATLAS_URL=f"http://127.0.0.1:{free_port()}", ATLAS_PASSWORD=env_password.core)
    run(outputs, "-v command against an unreachable Atlas", [*ATLAS_ML, "-v", "lineage", "file:///nothing"],
        unreachable)
    token = seeds.new("token: ", "config: the receiver's token file")
    token_file = tmp_path / "token"
    token_file.write_text(token.core + "\n")
    token_file.chmod(0o600)

    # --- OpenLineage events through the receiver, in -v mode, ingesting into Atlas ---
    port = free_port()
    serve = subprocess.Popen([*ATLAS_ML, "-v", "serve", "--port", str(port), "--token-file", str(token_file),
                              "--dir", str(events_dir), "--interval", "0.5"], env=fault_atlas.cli_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/api/v1/lineage"
        for _ in range(100):
            try:
                requests.get(url, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        for i, shape in enumerate(SHAPES):
            namespace_seed = seeds.new(shape, "event: input dataset namespace")
            name_part = seeds.new(shape, "event: output dataset name").text if shape not in NOT_IN_PATHS else "part"
            job_seed = seeds.new(shape, "event: job name")
            facet_seed = seeds.new(shape, "event: error message facet")
            event = {
                "eventType": "FAIL" if i % 2 else "COMPLETE", "eventTime": "2026-11-30T10:00:00Z",
                "producer": "secrets-audit", "run": {"runId": str(uuid.uuid4()), "facets": {
                    "errorMessage": {"message": f"job failed: {facet_seed.text}", "programmingLanguage": "python"},
                    "custom": {"connection": facet_seed.text}}},
                "job": {"namespace": f"audit-{uid}", "name": f"etl {job_seed.text}"},
                "inputs": [{"namespace": namespace_seed.text, "name": f"/audit/{uid}/in{i}"}],
                "outputs": [{"namespace": "file", "name": f"/audit/{uid}/out{i}/{name_part}"}],
            }
            reply = requests.post(url, json=event, headers={"Authorization": f"Bearer {token.core}"}, timeout=10)
            assert reply.status_code == 201, reply.text
        # a malformed event dropped into the directory (as a producer writing files would): it is rejected
        malformed = seeds.new("JDBC password parameter", "event file: malformed, rejected")
        event_queue(events_dir).put(json.dumps({"eventType": "COMPLETE", "job": {"name": malformed.text}}).encode())
        deadline = time.monotonic() + 300
        while event_queue(events_dir).files() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not event_queue(events_dir).files(), "the receiver did not ingest its events"
    finally:
        serve.terminate()
        out, err = serve.communicate(timeout=60)
        outputs["serve stdout"], outputs["serve stderr"] = out, err

    # --- a catalog, applied; and an invalid one ---
    catalog = tmp_path / "catalog.yaml"
    entries = []
    for description, source in zip(seeds.each("catalog: description"), seeds.each("catalog: creator"), strict=True):
        entries.append(f"  - qualified_name: file:///audit/{uid}/catalog/{len(entries)}\n"
                       f"    name: d{len(entries)}\n    license: CC-BY-4.0\n"
                       f"    description: {json.dumps('from ' + description.text)}\n"
                       f"    creator: {json.dumps(source.text)}\n")
    catalog.write_text("version: 1\ndatasets:\n" + "".join(entries))
    applied = run(outputs, "apply -v", [*ATLAS_ML, "-v", "apply", str(catalog)], fault_atlas.cli_env())
    assert applied.returncode == 0, applied.stderr
    invalid = seeds.new("Azure SAS signature", "catalog: invalid entry")
    bad_catalog = tmp_path / "bad.yaml"
    bad_catalog.write_text(f"version: 1\ndatasets:\n  - qualified_name: file:///audit/{uid}/bad\n"
                           f"    license: {json.dumps(invalid.text)}\n")
    run(outputs, "apply invalid", [*ATLAS_ML, "apply", str(bad_catalog)], fault_atlas.cli_env())

    # --- the Python API: spooled while Atlas is unreachable, then delivered; one dead-lettered ---
    down = fault_atlas.settings.model_copy(update={"url": f"http://127.0.0.1:{free_port()}"})
    offline = deliverer_for(down, spool_dir, wait=0.2)
    for i, seed in enumerate(seeds.each("API: spooled dataset description")):
        api.register_dataset(DatasetSpec(qualified_name=f"file:///audit/{uid}/api/{i}", name=f"a{i}",
                                         license="CC0-1.0", description=f"loaded with {seed.text}"),
                             deliverer=offline)
    poison = seeds.new("Authorization: Bearer", "API: dead-lettered op")
    api.register_dataset(DatasetSpec(qualified_name=f"file:///audit/{uid}/api/unknown-license", name="u",
                                     license="LicenseRef-not-registered", description=poison.text),
                         deliverer=offline)
    offline.close()
    settle(deliverer_for(fault_atlas.settings, spool_dir))

    # --- search everything ---
    texts = dict(outputs)
    texts["Atlas REST: entities, tags, audit"] = atlas_dump(fault_atlas, started_ms)
    found = find_cores(seeds.all, [STATE_DIR, tmp_path], texts)
    # The files the user wrote the credentials into are where they belong.
    inputs = tuple(str(p) for p in (token_file, properties, catalog, bad_catalog))
    leaks = sorted({(s.shape, s.carrier, where) for s in seeds.all for where in found.get(s.core, [])
                    if not where.startswith(inputs)})
    FIGURES.other["secrets seeded"] = len(seeds.all)
    FIGURES.other["secrets found"] = len({s.core for s in seeds.all
                                          if any(not w.startswith(inputs) for w in found.get(s.core, []))})
    assert not leaks, "\n".join(f"{shape} via {carrier} found in {where}" for shape, carrier, where in leaks)
