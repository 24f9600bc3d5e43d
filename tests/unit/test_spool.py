"""The durable spool: order, atomic files, transient vs permanent failures, and exactly-once draining
across threads and processes. No Atlas: handlers are plain functions raising the errors Atlas would."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from pydantic import BaseModel

from atlas_mlplugin.atlas.errors import (
    AtlasAuthError,
    AtlasNotFoundError,
    AtlasRequestError,
    AtlasResponseError,
    AtlasServerError,
    AtlasUnavailableError,
    ConfigError,
)
from atlas_mlplugin.cli.main import cli
from atlas_mlplugin.delivery import (
    SPOOL_DIR_ENV,
    FailureKind,
    Spool,
    SpoolOp,
    classify,
    default_spool_dir,
    is_transient,
)
from atlas_mlplugin.delivery.dirqueue import REASON_SUFFIX
from atlas_mlplugin.delivery.spool import DEAD_DIR, UNREADABLE_KIND
from atlas_mlplugin.delivery.transient import AtlasNotReadyError
from atlas_mlplugin.errors import NotRegisteredError
from atlas_mlplugin.limits import LimitError

REPO_ROOT = Path(__file__).resolve().parents[2]


def op(n: int | str, kind: str = "register_dataset") -> SpoolOp:
    return SpoolOp(kind=kind, payload={"qualified_name": f"s3://lab/ds/{n}", "name": f"ds{n}"})


class Recorder:
    """A handler that records what it was given and fails on demand."""

    def __init__(self, fail: dict[str, BaseException] | None = None) -> None:
        self.fail = dict(fail or {})
        self.seen: list[str] = []
        self.delivered: list[str] = []

    def __call__(self, o: SpoolOp) -> None:
        self.seen.append(o.op_id)
        if o.op_id in self.fail:
            raise self.fail[o.op_id]
        self.delivered.append(o.op_id)


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool")


def test_fifo_order_across_enqueue_and_drain(spool: Spool) -> None:
    a, b, c, d = (op(i) for i in range(4))
    spool.enqueue(a)
    spool.enqueue(b)
    assert [o.op_id for o in spool.pending()] == [a.op_id, b.op_id]
    handler = Recorder()
    report = spool.drain(handler, max_ops=1)
    assert (report.delivered, report.remaining) == (1, 1)
    spool.enqueue(c)
    spool.enqueue(d)
    assert len(spool) == 3
    report = spool.drain(handler)
    assert handler.delivered == [a.op_id, b.op_id, c.op_id, d.op_id]
    assert (report.delivered, report.remaining, report.failed_transient, report.dead) == (3, 0, False, [])
    assert len(spool) == 0 and spool.pending() == []


def test_files_are_atomic_json_and_survive_a_restart(spool: Spool) -> None:
    ops = [op(i) for i in range(3)]
    paths = [spool.enqueue(o) for o in ops]
    assert paths == sorted(paths)
    assert all(p.parent == spool.directory and p.suffix == ".json" for p in paths)
    # No temporary files left behind; each file is one complete op.
    assert sorted(p.name for p in spool.directory.iterdir() if p.is_file() and p.name != ".lock") == [
        p.name for p in paths
    ]
    assert json.loads(paths[0].read_text())["op_id"] == ops[0].op_id

    reborn = Spool(spool.directory)  # what a new process sees
    assert reborn.pending() == ops
    handler = Recorder()
    reborn.drain(handler)
    assert handler.delivered == [o.op_id for o in ops]


def test_spec_payload_is_json_ready() -> None:
    class Spec(BaseModel):
        name: str
        path: Path
        day: dt.date

    o = SpoolOp.of("register_dataset", Spec(name="x", path=Path("/data/x"), day=dt.date(2024, 5, 1)))
    assert o.payload == {"name": "x", "path": "/data/x", "day": "2024-05-01"}
    assert len(o.op_id) == 32 and o.attempts == 0 and o.last_error is None
    assert o.created_at.tzinfo is not None and o.created_at.utcoffset() == dt.timedelta(0)
    assert SpoolOp.model_validate_json(o.model_dump_json()) == o


def test_op_id_cannot_name_another_path() -> None:
    with pytest.raises(ValueError):
        SpoolOp(op_id="../../etc/x", kind="register_dataset")


@pytest.mark.parametrize(
    "error",
    [
        AtlasUnavailableError("Atlas at http://x did not answer"),
        AtlasServerError("POST /api/atlas/v2/entity/bulk -> HTTP 503", status=503),
        AtlasServerError("POST /api/atlas/v2/entity/bulk -> HTTP 502", status=502),
        AtlasAuthError("HTTP 401", status=401),
        AtlasNotReadyError("our typedefs cannot be applied"),
        requests.Timeout("read timed out"),
        requests.ConnectionError("refused"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transient_failure_stops_keeps_order_and_counts_attempts(spool: Spool, error: Exception) -> None:
    assert is_transient(error)
    a, b, c = op("a"), op("b"), op("c")
    for o in (a, b, c):
        spool.enqueue(o)
    handler = Recorder(fail={b.op_id: error})

    report = spool.drain(handler)
    assert report.delivered == 1 and report.failed_transient and report.remaining == 2
    assert report.dead == [] and report.error and type(error).__name__ in report.error
    assert handler.seen == [a.op_id, b.op_id]  # c was not tried: b stays first in line
    first, second = spool.pending()
    assert (first.op_id, first.attempts, second.op_id, second.attempts) == (b.op_id, 1, c.op_id, 0)
    assert first.last_error and type(error).__name__ in first.last_error

    spool.drain(handler)
    assert [o.attempts for o in spool.pending()] == [2, 0]

    handler.fail.clear()
    report = spool.drain(handler)
    assert handler.delivered == [a.op_id, b.op_id, c.op_id]
    assert report.remaining == 0 and not report.failed_transient


def test_permanent_failure_dead_letters_only_that_op(spool: Spool) -> None:
    class Strict(BaseModel):
        qualified_name: str
        name: str

    def handler(o: SpoolOp) -> None:
        if o.kind == "unknown_kind":
            raise AtlasRequestError("POST /api/atlas/v2/entity/bulk -> HTTP 400", status=400)
        Strict.model_validate(o.payload)  # pydantic ValidationError for a broken payload
        delivered.append(o.op_id)

    delivered: list[str] = []
    good1, rejected, broken, good2 = op(1), op(2, kind="unknown_kind"), SpoolOp(kind="x", payload={}), op(3)
    for o in (good1, rejected, broken, good2):
        spool.enqueue(o)

    report = spool.drain(handler)
    assert delivered == [good1.op_id, good2.op_id]
    assert report.delivered == 2 and not report.failed_transient and report.remaining == 0
    assert [d[0] for d in report.dead] == [rejected.op_id, broken.op_id]
    assert "AtlasRequestError" in report.dead[0][1] and "ValidationError" in report.dead[1][1]
    dead = spool.dead_letters()
    assert [(d.op_id, d.attempts) for d in dead] == [(rejected.op_id, 1), (broken.op_id, 1)]
    assert dead[0].payload == rejected.payload and dead[0].last_error == report.dead[0][1]
    assert len(spool) == 0


def test_not_found_is_permanent() -> None:
    assert not is_transient(AtlasNotFoundError("HTTP 404", status=404))
    assert not is_transient(ValueError("unknown license 'Foo'"))


@pytest.mark.parametrize(("error", "kind"), [
    (AtlasUnavailableError("refused"), FailureKind.UNAVAILABLE),
    (requests.Timeout("read timed out"), FailureKind.UNAVAILABLE),
    (ConnectionRefusedError("refused"), FailureKind.UNAVAILABLE),
    (AtlasServerError("HTTP 503", status=503), FailureKind.UNAVAILABLE),
    (AtlasServerError("HTTP 504", status=504), FailureKind.UNAVAILABLE),
    (AtlasServerError("HTTP 429", status=429), FailureKind.UNAVAILABLE),
    (AtlasAuthError("HTTP 403", status=403), FailureKind.UNAVAILABLE),
    (AtlasResponseError("a login page, not JSON"), FailureKind.UNAVAILABLE),
    (ConfigError("ATLAS_URL is not a URL"), FailureKind.UNAVAILABLE),
    (AtlasServerError("HTTP 500", status=500), FailureKind.RETRY),
    (AtlasRequestError("HTTP 400", status=400, error_code="ATLAS-400-00-014",
                       error_message="Type ENTITY with name ml_dataset does not exist"), FailureKind.RETRY),
    (AtlasNotFoundError("HTTP 404", status=404, error_code="ATLAS-404-00-008"), FailureKind.RETRY),
    (RuntimeError("something nobody foresaw"), FailureKind.RETRY),
    (AtlasRequestError("HTTP 400", status=400, error_code="ATLAS-400-00-08A"), FailureKind.REJECT),
    (AtlasNotFoundError("HTTP 404", status=404, error_code="ATLAS-404-00-00A"), FailureKind.REJECT),
    (NotRegisteredError("register it first"), FailureKind.REJECT),
    (LimitError("qualified_name is too long"), FailureKind.REJECT),
    (FileNotFoundError("model.pt"), FailureKind.REJECT),
], ids=lambda v: v.value if isinstance(v, FailureKind) else f"{type(v).__name__}-{getattr(v, 'status', '')}")
def test_each_error_has_one_class(error: Exception, kind: FailureKind) -> None:
    assert classify(error) is kind


def test_an_op_atlas_keeps_failing_is_dead_lettered_at_the_cap_across_processes(spool: Spool) -> None:
    """The finding: an op Atlas always answers with HTTP 500 was transient forever and blocked the rest."""
    poison, b, c = op("poison"), op("b"), op("c")
    for o in (poison, b, c):
        spool.enqueue(o)
    handler = Recorder(fail={poison.op_id: AtlasServerError("POST /api/atlas/v2/entity/bulk -> HTTP 500",
                                                            status=500)})
    for failures in (1, 2):
        report = Spool(spool.directory, max_attempts=3).drain(handler)  # a new process each time
        assert report.retrying == (poison.op_id, failures) and handler.delivered == []
        assert Spool(spool.directory).failures() == {poison.op_id: failures}
    status = CliRunner().invoke(cli, ["spool", "status", "--dir", str(spool.directory), "--format", "json"])
    assert json.loads(status.output)["retrying"] == [{"op_id": poison.op_id, "failures": 2, "max_attempts": 5}]

    report = Spool(spool.directory, max_attempts=3).drain(handler)
    assert handler.delivered == [b.op_id, c.op_id] and report.remaining == 0
    assert [op_id for op_id, _ in report.dead] == [poison.op_id]
    (dead,) = spool.dead_letters()
    assert dead.attempts == 3 and "HTTP 500" in dead.last_error
    assert "gave up after 3 failed attempts" in report.dead[0][1]


def test_an_unavailable_atlas_never_dead_letters(spool: Spool) -> None:
    a = op("a")
    spool.enqueue(a)
    handler = Recorder(fail={a.op_id: AtlasServerError("HTTP 503", status=503)})
    for _ in range(8):
        assert Spool(spool.directory, max_attempts=2).drain(handler).failed_transient
    assert spool.dead_letters() == [] and spool.pending()[0].attempts == 8 and spool.failures() == {}


def test_errors_and_reasons_keep_no_credentials(spool: Spool) -> None:
    secret = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbmEifQ.c2lnbmF0dXJlc2lnbmF0dXJl"
    a, b = op("a"), op("b")
    spool.enqueue(a)
    spool.enqueue(b)
    handler = Recorder(fail={
        a.op_id: AtlasUnavailableError(f"proxy said: Authorization: Bearer {secret}"),
    })
    spool.drain(handler)
    assert secret not in spool.pending()[0].last_error
    handler.fail = {a.op_id: AtlasRequestError(f"HTTP 400 for jdbc:mysql://db/app?password={secret}", status=400)}
    spool.drain(handler)
    (dead,) = spool.dead_letters()
    reasons = [p for p in spool.dead_directory.iterdir() if p.name.endswith(REASON_SUFFIX)]
    assert secret not in dead.last_error and secret not in reasons[0].read_text()
    assert all(p.stat().st_mode & 0o077 == 0 for p in spool.dead_directory.iterdir())
    assert spool.dead_directory.stat().st_mode & 0o077 == 0 and spool.directory.stat().st_mode & 0o077 == 0


def test_unreadable_file_is_dead_lettered_and_does_not_block(spool: Spool) -> None:
    a = op("a")
    spool.enqueue(a)
    corrupt = spool.directory / "00000000000000000001-deadbeef.json"  # sorts first
    corrupt.write_text('{"op_id": "deadbeef", "kind": "register_da')
    assert [o.op_id for o in spool.pending()] == [a.op_id]  # skipped when listing
    assert len(spool) == 2

    handler = Recorder()
    report = spool.drain(handler)
    assert handler.delivered == [a.op_id] and report.remaining == 0
    assert [d[0] for d in report.dead] == ["deadbeef"]
    (dead,) = spool.dead_letters()
    assert dead.kind == UNREADABLE_KIND and dead.payload["content"].startswith('{"op_id": "deadbeef"')
    assert (spool.directory / DEAD_DIR / corrupt.name).stat().st_mode & 0o077 == 0
    assert (spool.directory / DEAD_DIR / corrupt.name).exists() and not corrupt.exists()


def test_requeue_dead_puts_ops_back_in_their_original_place(spool: Spool) -> None:
    a, b, c = op("a"), op("b"), op("c")
    for o in (a, b):
        spool.enqueue(o)
    handler = Recorder(fail={a.op_id: AtlasRequestError("HTTP 400", status=400)})
    spool.drain(handler, max_ops=1)
    spool.enqueue(c)
    assert [d.op_id for d in spool.dead_letters()] == [a.op_id]

    assert spool.requeue_dead() == 1
    assert spool.dead_letters() == []
    assert [o.op_id for o in spool.pending()] == [a.op_id, b.op_id, c.op_id]
    handler.fail.clear()
    spool.drain(handler)
    assert handler.delivered == [a.op_id, b.op_id, c.op_id]
    assert spool.requeue_dead() == 0


def test_max_ops_and_progress(spool: Spool) -> None:
    for i in range(5):
        spool.enqueue(op(i))
    calls: list[tuple[int, int]] = []
    report = spool.drain(Recorder(), max_ops=3, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert (report.delivered, report.remaining) == (3, 2)


def test_drain_gives_up_when_another_drainer_holds_the_lock(spool: Spool) -> None:
    spool.enqueue(op(1))
    inside, release = threading.Event(), threading.Event()

    def slow(o: SpoolOp) -> None:
        inside.set()
        assert release.wait(10)

    worker = threading.Thread(target=spool.drain, args=(slow,))
    worker.start()
    try:
        assert inside.wait(10)
        report = Spool(spool.directory).drain(Recorder(), timeout=0.05)
        assert report.busy and report.delivered == 0 and report.remaining == 1
    finally:
        release.set()
        worker.join(10)
    assert len(spool) == 0


def test_default_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SPOOL_DIR_ENV, str(tmp_path / "here"))
    assert default_spool_dir() == tmp_path / "here"
    monkeypatch.delenv(SPOOL_DIR_ENV)
    default = default_spool_dir()
    assert default.name == "spool" and "atlas-mlplugin" in str(default)


def test_two_spools_draining_concurrently_deliver_each_op_exactly_once(spool: Spool) -> None:
    total = 300
    lock = threading.Lock()
    delivered: list[str] = []
    in_handler = 0
    overlap = False
    producer_done = threading.Event()
    start = threading.Barrier(3)

    def handler(o: SpoolOp) -> None:
        nonlocal in_handler, overlap
        with lock:
            in_handler += 1
            overlap = overlap or in_handler > 1
        delivered.append(o.op_id)
        with lock:
            in_handler -= 1

    expected = [op(i) for i in range(total)]

    def produce() -> None:
        start.wait()
        for o in expected:
            spool.enqueue(o)
        producer_done.set()

    def consume() -> None:
        mine = Spool(spool.directory)  # its own object, as another process would have
        start.wait()
        while not producer_done.is_set() or len(mine):
            mine.drain(handler, max_ops=3)

    threads = [threading.Thread(target=produce)] + [threading.Thread(target=consume) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert len(delivered) == len(set(delivered)) == total  # none twice, none lost
    assert delivered == [o.op_id for o in expected]  # and in order
    assert not overlap  # never two handler calls at once
    assert len(spool) == 0 and spool.dead_letters() == []


CHILD = textwrap.dedent(
    """
    import os, sys
    from atlas_mlplugin.delivery import Spool

    spool = Spool(sys.argv[1])
    log_fd = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def handler(op):
        os.write(log_fd, (op.op_id + "\\n").encode())

    while len(spool):
        spool.drain(handler, max_ops=2)
    """
)


def test_processes_draining_one_spool_deliver_each_op_exactly_once(spool: Spool, tmp_path: Path) -> None:
    expected = [op(i) for i in range(120)]
    for o in expected:
        spool.enqueue(o)
    log_file = tmp_path / "delivered.log"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(spool.directory), str(log_file)], env=env)
        for _ in range(3)
    ]
    assert [c.wait(60) for c in children] == [0, 0, 0]
    delivered = log_file.read_text().split()
    assert len(delivered) == len(set(delivered)) == len(expected)
    assert delivered == [o.op_id for o in expected]
    assert len(spool) == 0
