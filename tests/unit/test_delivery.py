"""Deliverer: direct delivery while Atlas answers, spooling (in order) while it does not, background and
exit-time flushing. No Atlas: the handler is a function that fails for as long as a test says."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.atlas.errors import AtlasRequestError, AtlasUnavailableError
from atlas_mlplugin.delivery import Deliverer, Spool, SpoolOp, fail_fast

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0  # upper bound for background work; tests finish as soon as the condition holds


def op(n: int | str, kind: str = "register_dataset") -> SpoolOp:
    return SpoolOp(kind=kind, payload={"qualified_name": f"s3://lab/ds/{n}"})


class FlakyAtlas:
    """Raises AtlasUnavailableError for the first ``down_for`` calls (or while ``down``), AtlasRequestError
    for poisoned op_ids, and records deliveries; ``wait_for`` blocks on a condition, not a sleep."""

    def __init__(self, down_for: int = 0) -> None:
        self.down_for = down_for
        self.down = False
        self.poisoned: set[str] = set()
        self.calls = 0
        self.delivered: list[str] = []
        self._cond = threading.Condition()

    def __call__(self, o: SpoolOp) -> None:
        with self._cond:
            self.calls += 1
            if self.down or self.calls <= self.down_for:
                raise AtlasUnavailableError("Atlas at http://127.0.0.1:21000 did not answer")
            if o.op_id in self.poisoned:
                raise AtlasRequestError("POST /api/atlas/v2/entity/bulk -> HTTP 400", status=400)
            self.delivered.append(o.op_id)
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

    def factory(handler: FlakyAtlas, **kwargs: float) -> Deliverer:
        d = Deliverer(spool, handler, **kwargs)
        made.append(d)
        return d

    yield factory
    for d in made:
        d.close()


def test_submit_delivers_directly_when_atlas_answers(make, spool: Spool) -> None:
    atlas = FlakyAtlas()
    d = make(atlas, flush_interval=60)
    a = op("a")
    assert d.submit(a) == "delivered"
    assert atlas.delivered == [a.op_id] and len(spool) == 0 and not d.is_flushing


def test_submit_spools_on_transient_failure_without_stalling(make, spool: Spool) -> None:
    atlas = FlakyAtlas()
    atlas.down = True
    d = make(atlas, flush_interval=60)
    a = op("a")
    started = time.monotonic()
    assert d.submit(a) == "spooled"
    assert time.monotonic() - started < 1.0  # one handler attempt, no sleeping
    (queued,) = spool.pending()
    assert queued.op_id == a.op_id and queued.attempts == 1 and "AtlasUnavailableError" in queued.last_error
    assert d.is_flushing  # the background flusher took over
    assert atlas.calls == 1


def test_submit_queues_behind_a_backlog_even_when_atlas_answers(make, spool: Spool) -> None:
    atlas = FlakyAtlas(down_for=1)
    d = make(atlas, flush_interval=60)  # the flusher waits; the test flushes explicitly
    a, b = op("a"), op("b")
    assert d.submit(a) == "spooled"
    assert d.submit(b) == "spooled"  # Atlas is back, but a is still waiting: b must not overtake it
    assert atlas.calls == 1 and [o.op_id for o in spool.pending()] == [a.op_id, b.op_id]

    report = d.flush()
    assert atlas.delivered == [a.op_id, b.op_id]
    assert (report.delivered, report.remaining, report.failed_transient) == (2, 0, False)
    assert d.submit(op("c")) == "delivered"


def test_background_flusher_delivers_everything_once_atlas_recovers(make, spool: Spool) -> None:
    atlas = FlakyAtlas(down_for=4)
    d = make(atlas, flush_interval=0.01, max_backoff=0.05)
    ops = [op(i) for i in range(6)]
    assert [d.submit(o) for o in ops] == ["spooled"] * 6
    assert atlas.wait_for(6)
    assert atlas.delivered == [o.op_id for o in ops]
    assert d.join(WAIT) and not d.is_flushing  # it stops by itself once the spool is empty
    assert len(spool) == 0


def test_backlog_from_an_earlier_run_is_delivered_on_start(make, spool: Spool) -> None:
    ops = [op(i) for i in range(3)]
    for o in ops:
        spool.enqueue(o)
    atlas = FlakyAtlas()
    d = make(atlas, flush_interval=60)  # no waiting for the interval: the backlog goes at once
    assert atlas.wait_for(3)
    assert atlas.delivered == [o.op_id for o in ops]
    assert d.join(WAIT) and len(spool) == 0


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


def test_permanent_failure_in_submit_is_raised_and_not_spooled(make, spool: Spool) -> None:
    atlas = FlakyAtlas()
    d = make(atlas, flush_interval=60)
    bad = op("bad")
    atlas.poisoned.add(bad.op_id)
    with pytest.raises(AtlasRequestError):
        d.submit(bad)
    assert len(spool) == 0 and spool.dead_letters() == [] and not d.is_flushing


def test_poisoned_op_in_the_backlog_is_dead_lettered_and_the_rest_delivered(make, spool: Spool) -> None:
    atlas = FlakyAtlas(down_for=1)
    d = make(atlas, flush_interval=0.01, max_backoff=0.05)
    ops = [op(i) for i in range(4)]
    atlas.poisoned.add(ops[1].op_id)
    for o in ops:
        d.submit(o)
    assert atlas.wait_for(3)
    assert d.join(WAIT)
    assert atlas.delivered == [ops[0].op_id, ops[2].op_id, ops[3].op_id]
    assert [o.op_id for o in spool.dead_letters()] == [ops[1].op_id] and len(spool) == 0


def test_close_stops_the_flusher_and_keeps_ops(make, spool: Spool) -> None:
    atlas = FlakyAtlas()
    atlas.down = True
    d = make(atlas, flush_interval=0.01, max_backoff=0.02)
    d.submit(op("a"))
    d.close()
    assert not d.is_flushing and len(spool) == 1
    assert Spool(spool.directory).pending()[0].kind == "register_dataset"


def test_fail_fast_settings() -> None:
    fast = fail_fast(AtlasSettings(url="http://atlas:21000"))
    assert (fast.connect_timeout, fast.read_timeout, fast.max_retries) == (2.0, 15.0, 1)
    assert fail_fast(AtlasSettings(url="http://atlas:21000", read_timeout=3)).read_timeout == 3


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
