"""The directory queue under the spool and the OpenLineage event directory: order, dead letters with their
reasons, and drains from several processes that never hand one item to two of them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from atlas_mlplugin.delivery.dirqueue import REASON_SUFFIX, DirectoryQueue, Failure
from atlas_mlplugin.openlineage.ingest import event_queue


def bury_all(path: Path, data: bytes, exc: Exception) -> Failure:
    return Failure(transient=False, reason=f"bad: {exc}")


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
    assert (queue.dead_directory / (dead.name + REASON_SUFFIX)).stat().st_mode & 0o077 == 0  # private
    assert queue.requeue_dead() == 1 and queue.dead_files() == [] and len(queue) == 1


def test_a_transient_failure_stops_the_drain_and_keeps_the_item_first(tmp_path: Path) -> None:
    queue = DirectoryQueue(tmp_path / "q")
    first = queue.put(b"a")
    queue.put(b"b")
    report = queue.drain(lambda p, d: (_ for _ in ()).throw(ConnectionError("down")),
                         lambda p, d, e: Failure(transient=True, reason=str(e), content=d + b"!"))
    assert report.failed_transient and report.error == "down" and report.remaining == 2
    assert queue.files()[0] == first and first.read_bytes() == b"a!"


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from atlas_mlplugin.delivery.dirqueue import DirectoryQueue, Failure
    directory, log = Path(sys.argv[1]), Path(sys.argv[2])
    def handle(path, data):
        time.sleep(0.002)
        with open(log, "a") as f:
            f.write(data.decode() + "\\n")
    DirectoryQueue(directory, dead_dir="rejected").drain(handle, lambda p, d, e: Failure(False, str(e)))
""")


def test_processes_draining_one_event_directory_hand_each_event_to_one_of_them(tmp_path: Path) -> None:
    events = event_queue(tmp_path / "events")
    for i in range(120):
        events.put(json.dumps({"n": i}).encode())
    log = tmp_path / "handled.log"
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(events.directory), str(log)]) for _ in range(3)]
    assert all(child.wait(timeout=120) == 0 for child in children)
    handled = [json.loads(line)["n"] for line in log.read_text().splitlines()]
    assert sorted(handled) == list(range(120)), "an event was handled twice or lost"
    assert handled == list(range(120)), "events were not handled in arrival order"
    assert len(events) == 0 and events.dead_files() == []
