"""Deliverer and API: every op goes through the spool in order, the caller gets an Outcome within a small
bound and never an exception, local files are fingerprinted off the caller's thread, and the worker keeps
delivering in the background and at exit. No Atlas: the handler is a function that fails (or hangs) for as
long as a test says; tests/integration/test_spool_api.py does the same against the real server."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_mlplugin import api
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.atlas.errors import AtlasRequestError, AtlasServerError, AtlasUnavailableError
from atlas_mlplugin.delivery import Deliverer, Spool, SpoolOp, fail_fast
from atlas_mlplugin.delivery import spool as spool_module
from atlas_mlplugin.hooks import training
from atlas_mlplugin.model import DatasetSpec, ModelSpec, TrainingRunSpec, sha256_of

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0  # upper bound for background work; tests finish as soon as the condition holds
BOUND = 1.0  # what a caller may wait at most in these tests (Deliverer(wait=0.3) plus scheduling slack)


def op(n: int | str, kind: str = "register_dataset") -> SpoolOp:
    return SpoolOp(kind=kind, payload={"qualified_name": f"s3://lab/ds/{n}"})


class FlakyAtlas:
    """Raises AtlasUnavailableError for the first ``down_for`` calls (or while ``down``), AtlasRequestError
    for poisoned op_ids, AtlasServerError(500) for failing ones, blocks while ``hung`` is set, and records
    deliveries (with their payloads); ``wait_for`` blocks on a condition, not a sleep."""

    def __init__(self, down_for: int = 0) -> None:
        self.down_for = down_for
        self.down = False
        self.poisoned: set[str] = set()
        self.failing: set[str] = set()
        self.hung = threading.Event()
        self.calls = 0
        self.delivered: list[str] = []
        self.payloads: list[dict] = []
        self.threads: set[str] = set()
        self._cond = threading.Condition()

    def __call__(self, o: SpoolOp) -> None:
        while self.hung.is_set():
            time.sleep(0.01)
        with self._cond:
            self.calls += 1
            self.threads.add(threading.current_thread().name)
            if self.down or self.calls <= self.down_for:
                raise AtlasUnavailableError("Atlas at http://127.0.0.1:21000 did not answer")
            if o.op_id in self.poisoned:
                raise AtlasRequestError("POST /api/atlas/v2/entity/bulk -> HTTP 400", status=400)
            if o.op_id in self.failing:
                raise AtlasServerError("POST /api/atlas/v2/entity/bulk -> HTTP 500", status=500)
            self.delivered.append(o.op_id)
            self.payloads.append(o.payload)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = WAIT) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.delivered) >= count, timeout)


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool")


@pytest.fixture
def make(spool: Spool) -> Iterator[object]:
    made: list[Deliverer] = []

    def factory(handler: FlakyAtlas, target: Spool | None = spool, **kwargs: float) -> Deliverer:
        kwargs.setdefault("wait", 0.3)
        d = Deliverer(target, handler, **kwargs)
        made.append(d)
        return d

    yield factory
    for d in made:
        d.close()


def timed(call: object) -> tuple[object, float]:
    started = time.monotonic()
    result = call()  # type: ignore[operator]
    return result, time.monotonic() - started


def test_submit_delivers_directly_when_atlas_answers(make, spool: Spool) -> None:
    atlas = FlakyAtlas()
    d = make(atlas, flush_interval=60)
    a = op("a")
    assert d.submit(a) == "delivered"
    assert atlas.delivered == [a.op_id] and len(spool) == 0
    assert "MainThread" not in atlas.threads  # Atlas is called from the worker, never from the caller


def test_submit_spools_on_transient_failure_without_stalling(make, spool: Spool) -> None:
    atlas = FlakyAtlas()
    atlas.down = True
    d = make(atlas, flush_interval=60)
    a = op("a")
    outcome, took = timed(lambda: d.submit(a))
    assert outcome == "spooled" and took < BOUND
    (queued,) = spool.pending()
    assert queued.op_id == a.op_id and queued.attempts == 1 and "AtlasUnavailableError" in queued.last_error
    assert d.is_flushing and atlas.calls == 1  # the worker keeps it, and backs off


def test_a_hung_atlas_costs_the_caller_at_most_the_wait_and_the_op_goes_later(make, spool: Spool) -> None:
    """The finding: the first call to a hung Atlas blocked training for 15 s (the read timeout)."""
    atlas = FlakyAtlas()
    atlas.hung.set()  # accepts the call and never answers, for now
    d = make(atlas, flush_interval=60)
    a, b = op("a"), op("b")
    outcome, took = timed(lambda: d.submit(a))
    assert outcome == "spooled" and took < BOUND
    outcome, took = timed(lambda: d.submit(b))  # a drain is already slower than the wait: no waiting at all
    assert outcome == "spooled" and took < 0.2
    atlas.hung.clear()
    assert atlas.wait_for(2)
    assert atlas.delivered == [a.op_id, b.op_id] and d.join(WAIT) and len(spool) == 0


def test_submit_queues_behind_a_backlog_even_when_atlas_answers(make, spool: Spool) -> None:
    atlas = FlakyAtlas(down_for=1)
    d = make(atlas, flush_interval=60)  # the worker backs off for a minute; the test flushes explicitly
    a, b = op("a"), op("b")
    assert d.submit(a) == "spooled"
    assert d.submit(b) == "spooled"  # Atlas is back, but a is still waiting: b must not overtake it
    assert atlas.calls == 1 and [o.op_id for o in spool.pending()] == [a.op_id, b.op_id]

    report = d.flush()
    assert atlas.delivered == [a.op_id, b.op_id]
    assert (report.delivered, report.remaining, report.failed_transient) == (2, 0, False)
    assert d.submit(op("c")) == "delivered"


def test_background_worker_delivers_everything_once_atlas_recovers(make, spool: Spool) -> None:
    atlas = FlakyAtlas(down_for=4)
    d = make(atlas, flush_interval=0.01, max_backoff=0.05, wait=0)
    ops = [op(i) for i in range(6)]
    assert [d.submit(o) for o in ops] == ["spooled"] * 6
    assert atlas.wait_for(6)
    assert atlas.delivered == [o.op_id for o in ops]
    assert d.join(WAIT) and not d.is_flushing and len(spool) == 0


def test_backlog_from_an_earlier_run_is_delivered_on_start(make, spool: Spool) -> None:
    ops = [op(i) for i in range(3)]
    for o in ops:
        spool.enqueue(o)
    atlas = FlakyAtlas()
    d = make(atlas, flush_interval=60)  # no waiting for the interval: the backlog goes at once
    assert atlas.wait_for(3) and d.join(WAIT)
    assert atlas.delivered == [o.op_id for o in ops] and len(spool) == 0


def test_flush_reports_and_empties(make, spool: Spool) -> None:
    atlas = FlakyAtlas()
    atlas.down = True
    d = make(atlas, flush_interval=60)
    ops = [op(i) for i in range(3)]
    for o in ops:
        d.submit(o)
    report = d.flush(timeout=5)
    assert report.failed_transient and report.delivered == 0 and report.remaining == 3

    atlas.down = False
    report = d.flush(timeout=5)
    assert (report.delivered, report.remaining, report.failed_transient) == (3, 0, False)
    assert atlas.delivered == [o.op_id for o in ops] and len(spool) == 0


def test_a_write_atlas_refuses_is_rejected_not_raised_and_kept_as_a_dead_letter(make, spool: Spool) -> None:
    atlas = FlakyAtlas()
    d = make(atlas, flush_interval=60)
    bad = op("bad")
    atlas.poisoned.add(bad.op_id)
    assert d.submit(bad) == "rejected"
    (dead,) = spool.dead_letters()
    assert dead.op_id == bad.op_id and "HTTP 400" in dead.last_error and len(spool) == 0
    assert d.submit(op("good")) == "delivered"


def test_a_write_atlas_keeps_failing_is_dead_lettered_at_the_cap_and_the_rest_delivered(make, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "capped", max_attempts=3)
    atlas = FlakyAtlas()
    d = make(atlas, spool, flush_interval=0.01, max_backoff=0.05, wait=0)
    ops = [op(i) for i in range(3)]
    atlas.failing.add(ops[0].op_id)
    for o in ops:
        d.submit(o)
    assert atlas.wait_for(2)
    assert atlas.delivered == [ops[1].op_id, ops[2].op_id]
    (dead,) = spool.dead_letters()
    assert dead.op_id == ops[0].op_id and dead.attempts == 3 and "HTTP 500" in dead.last_error
    assert "gave up after 3" in (spool.queue.dead_reason(spool.queue.dead_files()[0]) or "")


def test_poisoned_op_in_the_backlog_is_dead_lettered_and_the_rest_delivered(make, spool: Spool) -> None:
    atlas = FlakyAtlas(down_for=1)
    d = make(atlas, flush_interval=0.01, max_backoff=0.05, wait=0)
    ops = [op(i) for i in range(4)]
    atlas.poisoned.add(ops[1].op_id)
    for o in ops:
        d.submit(o)
    assert atlas.wait_for(3)
    assert d.join(WAIT)
    assert atlas.delivered == [ops[0].op_id, ops[2].op_id, ops[3].op_id]
    assert [o.op_id for o in spool.dead_letters()] == [ops[1].op_id] and len(spool) == 0


def test_close_stops_the_worker_and_keeps_ops(make, spool: Spool) -> None:
    atlas = FlakyAtlas()
    atlas.down = True
    d = make(atlas, flush_interval=0.01, max_backoff=0.02)
    d.submit(op("a"))
    d.close()
    assert not d.is_flushing and len(spool) == 1
    assert Spool(spool.directory).pending()[0].kind == "register_dataset"
    assert d.submit(op("b")) == "spooled" and len(spool) == 2  # after close: still kept, never lost


def test_fail_fast_settings() -> None:
    fast = fail_fast(AtlasSettings(url="http://atlas:21000"))
    assert (fast.connect_timeout, fast.read_timeout, fast.max_retries) == (2.0, 15.0, 1)
    assert fail_fast(AtlasSettings(url="http://atlas:21000", read_timeout=3)).read_timeout == 3


# -- local files -------------------------------------------------------------------------------------


def dataset_op(path: Path, name: str = "d") -> SpoolOp:
    return SpoolOp.of("register_dataset", DatasetSpec(qualified_name=f"s3://lab/{name}", name=name, local_path=path))


def test_a_missing_local_path_is_rejected_at_once_and_kept_with_the_reason(make, spool: Spool, tmp_path: Path) -> None:
    atlas = FlakyAtlas()
    d = make(atlas, flush_interval=60)
    assert d.submit(dataset_op(tmp_path / "nowhere.csv")) == "rejected"
    assert atlas.calls == 0 and len(spool) == 0
    (dead,) = spool.dead_letters()
    assert "nowhere.csv" in dead.last_error and "does not exist" in dead.last_error


def test_fingerprinting_runs_off_the_callers_thread(make, spool: Spool, tmp_path: Path) -> None:
    """The finding: fingerprinting a large local copy ran in the caller's thread (3 s for a directory)."""
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:  # 512 MiB, sparse: cheap on disk, over a second of sha256 here
        handle.truncate(1 << 29)
    atlas = FlakyAtlas()
    d = make(atlas, flush_interval=60, wait=0.05)
    spec = DatasetSpec(qualified_name="s3://lab/big", name="big", local_path=big)
    outcome, took = timed(lambda: api.register_dataset(spec, deliverer=d))
    assert took < 0.5, f"submit took {took:.2f} s: the fingerprint was taken in the caller's thread"
    assert outcome == "spooled"
    assert atlas.wait_for(1)
    assert atlas.payloads[0]["sha256"] == sha256_of(big)


def test_the_fingerprint_is_of_the_file_as_it_was_when_submitted(make, spool: Spool, tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights v1")
    atlas = FlakyAtlas()
    atlas.down = True
    d = make(atlas, flush_interval=60)
    assert d.submit(dataset_op(model)) == "spooled"
    deadline = time.monotonic() + WAIT  # recorded in the spool file, not only in memory
    while time.monotonic() < deadline and not spool.pending()[0].payload.get("sha256"):
        time.sleep(0.02)
    assert spool.pending()[0].payload["sha256"] == sha256_of(model)
    v1 = sha256_of(model)
    model.write_bytes(b"weights v2, retrained while Atlas was down")
    d.close()
    atlas.down = False
    Spool(spool.directory).drain(atlas)  # another process delivers it later
    assert atlas.payloads[0]["sha256"] == v1


def test_a_runs_models_are_fingerprinted_in_the_background_too(make, spool: Spool, tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    model.write_bytes(b"\x00" * 1000)
    atlas = FlakyAtlas()
    d = make(atlas, flush_interval=60)
    run = TrainingRunSpec(run_id="r1", name="t", inputs=["s3://lab/x"],
                          outputs=[ModelSpec(qualified_name="models/m", name="m", local_path=model)])
    assert api.record_training_run(run, deliverer=d) == "delivered"
    assert atlas.payloads[0]["outputs"][0]["sha256"] == sha256_of(model)


# -- the API -----------------------------------------------------------------------------------------


def test_the_api_never_raises_on_input_it_cannot_use(make, spool: Spool, tmp_path: Path) -> None:
    atlas = FlakyAtlas()
    d = make(atlas, flush_interval=60)
    assert api.register_dataset(DatasetSpec(qualified_name="s3://lab/d", name="d", local_path=tmp_path / "no"),
                                deliverer=d) == "rejected"
    assert api.retract_dataset(None, "r", deliverer=d) == "rejected"  # type: ignore[arg-type]
    assert api.register_dataset("not a spec", deliverer=d) == "rejected"  # type: ignore[arg-type]
    assert atlas.calls == 0


def test_no_usable_spool_delivers_directly_within_the_bound_or_rejects(make, caplog: pytest.LogCaptureFixture) -> None:
    atlas = FlakyAtlas()
    d = make(atlas, None, flush_interval=60)
    assert d.submit(op("a")) == "delivered"
    atlas.hung.set()
    outcome, took = timed(lambda: d.submit(op("b")))
    assert outcome == "rejected" and took < BOUND
    assert "cannot keep it" in caplog.text
    atlas.hung.clear()


SCRIPT_DEFAULT = textwrap.dedent("""
    import sys, time
    from atlas_mlplugin import api
    from atlas_mlplugin.model import DatasetSpec
    started = time.monotonic()
    outcome = api.register_dataset(DatasetSpec(qualified_name="s3://lab/d", name="d"))
    print(outcome, round(time.monotonic() - started, 3))
""")


def test_a_bad_spool_directory_falls_back_and_the_api_still_keeps_the_write(tmp_path: Path) -> None:
    """The finding: api.* raised on a bad spool directory. Here ATLAS_ML_SPOOL_DIR names a file."""
    not_a_dir = tmp_path / "spool-file"
    not_a_dir.write_text("")
    data_home = tmp_path / "data-home"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "ATLAS_ML_SPOOL_DIR": str(not_a_dir),
           "XDG_DATA_HOME": str(data_home), "ATLAS_URL": "http://127.0.0.1:9", "ATLAS_ML_SUBMIT_WAIT": "0.5"}
    out = subprocess.run([sys.executable, "-c", SCRIPT_DEFAULT], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    outcome, took = out.stdout.split()
    assert outcome == "spooled" and float(took) < 3
    assert "cannot be used" in out.stderr and str(not_a_dir) in out.stderr
    kept = Spool(data_home / "atlas-mlplugin" / "spool")
    assert [o.payload["qualified_name"] for o in kept.pending()] == ["s3://lab/d"]


def test_open_spool_falls_back_to_a_private_temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setattr(spool_module, "_user_spool_dir", lambda: blocked / "user")
    monkeypatch.setattr(spool_module.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    with caplog.at_level(logging.WARNING):
        chosen = spool_module.open_spool(blocked / "spool")
    assert chosen.directory == tmp_path / "tmp" / f"atlas-mlplugin-{os.geteuid()}" / "spool"
    assert chosen.directory.stat().st_mode & 0o077 == 0 and "cannot be used" in caplog.text
    monkeypatch.setattr(spool_module.tempfile, "gettempdir", lambda: str(blocked))
    with pytest.raises(OSError, match="no usable spool directory"):
        spool_module.open_spool(blocked / "spool")


def test_default_deliverer_never_raises_on_a_bad_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(training, "_default", None)
    monkeypatch.setenv("ATLAS_ML_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("ATLAS_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ATLAS_CONNECT_TIMEOUT", "not a number")
    try:
        d = training.default_deliverer()
        d.wait = 0.5
        assert api.register_dataset(DatasetSpec(qualified_name="s3://lab/d", name="d")) == "spooled"
        (kept,) = Spool(tmp_path / "spool").pending()
        assert "ConfigError" in (kept.last_error or "")
    finally:
        if training._default is not None:
            training._default.close()
        monkeypatch.setattr(training, "_default", None)


EXIT_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from atlas_mlplugin.atlas.errors import AtlasUnavailableError
    from atlas_mlplugin.delivery import Deliverer, Spool, SpoolOp

    mode, spool_dir, log_file = sys.argv[1:4]
    calls = 0

    def handler(op):
        global calls
        calls += 1
        if mode == "down" or calls == 1:
            raise AtlasUnavailableError("down")
        with open(log_file, "a") as fh:
            fh.write(op.op_id + "\\n")

    d = Deliverer(Spool(spool_dir), handler, flush_interval=3600, exit_timeout=2)
    op = SpoolOp(kind="record_training_run", payload={"run_id": "r1"})
    assert d.submit(op) == "spooled"
    print(op.op_id)
    """
)


@pytest.mark.parametrize("mode", ["recovers", "down"])
def test_exit_hook_makes_one_bounded_attempt(spool: Spool, tmp_path: Path, mode: str) -> None:
    log_file = tmp_path / "delivered.log"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, mode, str(spool.directory), str(log_file)],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    op_id = out.stdout.strip()
    assert time.monotonic() - started < 30  # the script is not held up by a 3600 s flush interval
    if mode == "recovers":
        assert log_file.read_text().split() == [op_id] and len(spool) == 0
    else:  # Atlas still down: the op stays durable on disk for the next run or `atlas-ml spool flush`
        assert not log_file.exists()
        assert [(o.op_id, o.attempts) for o in spool.pending()] == [(op_id, 2)]


def test_spool_files_keep_no_credentials_but_keep_local_paths(make, spool: Spool, tmp_path: Path) -> None:
    local = tmp_path / "token=abc123" / "data.csv"  # a real folder name that looks like a secret: kept as is
    local.parent.mkdir()
    local.write_text("a,b\n")
    atlas = FlakyAtlas()
    atlas.down = True
    d = make(atlas, flush_interval=60)
    spec = DatasetSpec(qualified_name="jdbc:postgresql://db:5432/app/public.users", name="users",
                       url="jdbc:postgresql://db:5432/app?user=ana&password=hunter2", local_path=local)
    assert d.submit(SpoolOp.of("register_dataset", spec)) == "spooled"
    d.close()
    text = "".join(p.read_text() for p in spool.queue.files())
    assert "hunter2" not in text and json.loads(text)["payload"]["local_path"] == str(local)
