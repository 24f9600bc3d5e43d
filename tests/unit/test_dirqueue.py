"""The directory queue under the spool and the OpenLineage event directory: order, dead letters with their
reasons, the attempt cap for writes Atlas fails, drains from several processes that never hand one item to
two of them, files that vanish under a drainer, and files that are scrubbed and private."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.delivery.dirqueue import REASON_SUFFIX, DirectoryQueue, Failure
from atlas_mlplugin.delivery.transient import FailureKind
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.openlineage.ingest import LineageIngestor, event_queue

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "hunter2-s3cret"
JDBC = f"jdbc:postgresql://db:5432/app?user=ana&password={SECRET}"


def bury_all(path: Path, data: bytes, exc: Exception) -> Failure:
    return Failure(FailureKind.REJECT, f"bad: {exc}")


def retry_all(path: Path, data: bytes, exc: Exception) -> Failure:
    return Failure(FailureKind.RETRY, f"HTTP 500: {exc}")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_items_come_out_in_order_and_a_bad_one_is_buried_with_its_reason(tmp_path: Path) -> None:
    queue = DirectoryQueue(tmp_path / "q", dead_dir="rejected")
    for body in (b"1", b"oops", b"3"):
        queue.put(body)
    seen: list[bytes] = []

    def handle(path: Path, data: bytes) -> None:
        if data == b"oops":
            raise ValueError("not a number")
        seen.append(data)

    report = queue.drain(handle, bury_all)
    assert seen == [b"1", b"3"] and report.delivered == 2 and len(queue) == 0
    (dead,) = queue.dead_files()
    assert dead.read_bytes() == b"oops" and queue.dead_reason(dead) == "bad: not a number"
    assert queue.requeue_dead() == 1 and queue.dead_files() == [] and len(queue) == 1


def test_an_unavailable_atlas_stops_the_drain_keeps_the_item_first_and_never_buries_it(tmp_path: Path) -> None:
    queue = DirectoryQueue(tmp_path / "q")
    first = queue.put(b'{"n": 1}')
    queue.put(b'{"n": 2}')
    for _ in range(20):  # far beyond any attempt cap: being unreachable is never the item's fault
        report = queue.drain(lambda p, d: (_ for _ in ()).throw(ConnectionError("down")),
                             lambda p, d, e: Failure(FailureKind.UNAVAILABLE, str(e), content=b'{"n": 1, "tries": 1}'),
                             max_attempts=3)
        assert report.failed_transient and report.error == "down" and report.remaining == 2
    assert queue.files()[0] == first and json.loads(first.read_bytes()) == {"n": 1, "tries": 1}
    assert queue.dead_files() == [] and queue.failures(first) == 0


def test_an_item_atlas_keeps_failing_is_dead_lettered_at_the_cap_and_the_rest_goes(tmp_path: Path) -> None:
    """The finding: one op Atlas always answers with HTTP 500 used to block the queue for good."""
    queue = DirectoryQueue(tmp_path / "q")
    poison = queue.put(b'{"poison": true}')
    queue.put(b'{"n": 2}')
    queue.put(b'{"n": 3}')
    delivered: list[bytes] = []

    def handle(path: Path, data: bytes) -> None:
        if b"poison" in data:
            raise RuntimeError("POST /api/atlas/v2/entity/bulk -> HTTP 500")
        delivered.append(data)

    # Below the cap the item stays first and nothing overtakes it: order is kept while it may still go.
    for failures in (1, 2):
        report = queue.drain(handle, retry_all, max_attempts=3)
        assert delivered == [] and queue.files()[0] == poison
        assert report.retrying == (queue.item_id(poison), failures) and not report.failed_transient
        assert f"failed {failures} of 3 times" in (report.error or "")
    # The count is on disk: a new queue object (another process, after a restart) continues it.
    report = DirectoryQueue(tmp_path / "q").drain(handle, retry_all, max_attempts=3)
    assert delivered == [b'{"n": 2}', b'{"n": 3}'], "the item was never given up, the rest waits behind it"
    assert report.delivered == 2 and len(queue) == 0
    (dead,) = report.dead
    assert dead.name == poison.name and "gave up after 3 failed attempts" in dead.reason and "HTTP 500" in dead.reason
    assert queue.dead_reason(queue.dead_files()[0]).startswith("gave up after 3")
    assert list(queue.attempts_directory.iterdir()) == []  # no count outlives its item


def test_retry_delays_retry_within_one_drain(tmp_path: Path) -> None:
    queue = DirectoryQueue(tmp_path / "q")
    queue.put(b"x")
    calls: list[int] = []

    def handle(path: Path, data: bytes) -> None:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("HTTP 500")

    report = queue.drain(handle, retry_all, retry_delays=(0.01, 0.01, 0.01))
    assert len(calls) == 3 and report.delivered == 1 and report.retrying is None and len(queue) == 0


def test_a_file_taken_while_it_was_applied_is_never_written_back(tmp_path: Path) -> None:
    """A drainer that does not honour the lock (or a person) takes a file while our attempt fails: writing our
    copy back would resurrect it and deliver it twice."""
    queue = DirectoryQueue(tmp_path / "q")
    taken = queue.put(b'{"n": 1}')

    def take_then_fail(path: Path, data: bytes) -> None:
        path.unlink()
        raise ConnectionError("down")

    queue.drain(take_then_fail, lambda p, d, e: Failure(FailureKind.UNAVAILABLE, "down", content=b'{"n": 1, "t": 1}'))
    assert not taken.exists(), "a file another drainer took was written back (it would go twice)"
    queue.put(b'{"n": 2}')
    report = queue.drain(take_then_fail, lambda p, d, e: Failure(FailureKind.RETRY, "HTTP 500", content=b"{}"))
    assert queue.files() == [] and queue.dead_files() == [] and not report.dead


def test_files_taken_by_someone_else_are_skipped_and_counted_not_errors(tmp_path: Path) -> None:
    queue = DirectoryQueue(tmp_path / "q")
    a, b, c = (queue.put(json.dumps({"n": n}).encode()) for n in (1, 2, 3))
    handled: list[str] = []

    def handle(path: Path, data: bytes) -> None:
        handled.append(path.name)
        b.unlink()  # both taken by another drainer while we were at the first one
        c.unlink()
        raise ValueError("not an event")

    report = queue.drain(handle, bury_all)
    assert handled == [a.name] and [d.name for d in report.dead] == [a.name]
    assert report.vanished == 2 and report.error is None and len(queue) == 0


def test_everything_the_queue_writes_is_scrubbed_and_private(tmp_path: Path) -> None:
    shared = tmp_path / "events"
    shared.mkdir(mode=0o755)
    (shared / "rejected").mkdir(mode=0o755)  # e.g. made by an older version: world-readable
    os.chmod(shared / "rejected", 0o755)
    queue = event_queue(shared)
    assert mode(shared / "rejected") == 0o700 and mode(shared) == 0o755  # the listener's folder keeps its mode
    put = queue.put(json.dumps({"inputs": [{"namespace": JDBC, "name": "t"}]}).encode())
    assert SECRET not in put.read_text() and mode(put) == 0o600
    # A file the Spark listener wrote itself, world-readable and with a credential, that is not an event.
    raw = shared / "00000000000000000001-raw.json"
    raw.write_text(f'{{"eventType": "COMPLETE", "job": "{JDBC}"')
    os.chmod(raw, 0o644)
    queue.drain(lambda p, d: (_ for _ in ()).throw(ValueError(f"cannot parse {JDBC}")), bury_all)
    for dead in queue.dead_files():
        reason = queue.dead_directory / (dead.name + REASON_SUFFIX)
        assert SECRET not in dead.read_text() and SECRET not in reason.read_text()
        assert mode(dead) == 0o600 and mode(reason) == 0o600
    assert len(queue.dead_files()) == 2


def test_a_rejected_event_is_rewritten_without_credentials(tmp_path: Path) -> None:
    events = tmp_path / "events"
    events.mkdir()
    (events / "1.json").write_text(json.dumps({"eventType": "COMPLETE", "producer": JDBC}))  # no job, no run
    # Not an event, so nothing is sent: the client's server need not exist.
    nowhere = GovernanceRegistry(AtlasClient(AtlasSettings(url="http://127.0.0.1:9", max_retries=1)))
    report = LineageIngestor(nowhere).drain(events)
    assert [name for name, _ in report.rejected] == ["1.json"]
    kept = events / "rejected" / "1.json"
    assert json.loads(kept.read_text())["producer"] == "jdbc:postgresql://db:5432/app"
    assert mode(kept) == 0o600 and SECRET not in (events / "rejected" / ("1.json" + REASON_SUFFIX)).read_text()


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from atlas_mlplugin.delivery.dirqueue import DirectoryQueue, Failure
    from atlas_mlplugin.delivery.transient import FailureKind
    directory, log = Path(sys.argv[1]), Path(sys.argv[2])
    def handle(path, data):
        time.sleep(0.002)
        with open(log, "a") as f:
            f.write(data.decode() + "\\n")
    report = DirectoryQueue(directory, dead_dir="rejected").drain(
        handle, lambda p, d, e: Failure(FailureKind.REJECT, str(e)))
    print(report.delivered, report.vanished)
""")


def test_processes_draining_one_event_directory_hand_each_event_to_one_of_them(tmp_path: Path) -> None:
    events = event_queue(tmp_path / "events")
    for i in range(120):
        events.put(json.dumps({"n": i}).encode())
    log = tmp_path / "handled.log"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(events.directory), str(log)], env=env,
                                 stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0]
    handled = [json.loads(line)["n"] for line in log.read_text().splitlines()]
    assert sorted(handled) == list(range(120)), "an event was handled twice or lost"
    assert handled == list(range(120)), "events were not handled in arrival order"
    assert sum(int(out.split()[0]) for out in outputs) == 120  # each says what it did, and that adds up
    assert len(events) == 0 and events.dead_files() == []


def test_a_waiting_drainer_is_told_who_holds_the_queue(tmp_path: Path) -> None:
    queue = DirectoryQueue(tmp_path / "q")
    queue.put(b"x")
    inside, release = threading.Event(), threading.Event()

    def slow(path: Path, data: bytes) -> None:
        inside.set()
        assert release.wait(10)

    worker = threading.Thread(target=queue.drain, args=(slow, bury_all))
    worker.start()
    try:
        assert inside.wait(10)
        told: list[str] = []
        report = DirectoryQueue(tmp_path / "q").drain(slow, bury_all, timeout=0.2, on_wait=told.append)
        assert report.busy and told and f"pid {os.getpid()}" in told[0] and report.waited_for == told[0]
    finally:
        release.set()
        worker.join(10)


@pytest.mark.parametrize("bad", [0, -1])
def test_max_attempts_must_be_positive(tmp_path: Path, bad: int) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        DirectoryQueue(tmp_path / "q").drain(lambda p, d: None, bury_all, max_attempts=bad)
