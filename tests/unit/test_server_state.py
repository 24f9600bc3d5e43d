"""The local server's state directory and download cache, without a server: two processes downloading into
one cache, a download that does not match its published checksum, the Solr port the index is registered
under, clean and unclean stops, and reset.

The download tests put a stand-in for `mvn` first on PATH: it writes the war slowly, as a network download
would, and the checksum file into a Maven repository of the test's own, as Maven does; so the launcher's
own locking, verification and renaming are what is tested (the real 290 MB download runs in CI's first
server start).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from atlas_mlplugin.filelock import exclusive, holder_of
from atlas_mlplugin.server import artifacts
from atlas_mlplugin.server.errors import LauncherError
from atlas_mlplugin.server.state import StateDir

VERSION = "2.1.0"


def war_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("WEB-INF/web.xml", "<web-app/>")
        zf.writestr("WEB-INF/lib/atlas-testtools-2.1.0.jar", b"x" * 200_000)
    return buffer.getvalue()


FAKE_MVN = textwrap.dedent('''\
    #!{python}
    """Stands in for Maven: dependency:copy writes the war slowly; help:evaluate names the local repository."""
    import os, sys, time
    from pathlib import Path
    args = sys.argv[1:]
    repo = Path(os.environ["FAKE_M2"])
    with open(os.environ["FAKE_MVN_LOG"], "a") as log:
        log.write(" ".join(a for a in args if not a.startswith("-D")) + "\\n")
    if "help:evaluate" in args:
        print(repo)
        sys.exit(0)
    out = Path(next(a.split("=", 1)[1] for a in args if a.startswith("-Ddownload.dir=")))
    data = Path(os.environ["FAKE_WAR"]).read_bytes()
    war = out / "atlas-webapp-{version}.war"
    with open(war, "wb") as handle:
        for i in range(0, len(data), 4096):
            handle.write(data[i:i + 4096])
            handle.flush()
            time.sleep(0.002)
    checksum = repo / "org/apache/atlas/atlas-webapp/{version}/atlas-webapp-{version}.war.sha1"
    checksum.parent.mkdir(parents=True, exist_ok=True)
    checksum.write_text(os.environ.get("FAKE_SHA1") or __import__("hashlib").sha1(data).hexdigest())
''')


@pytest.fixture
def fake_maven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    bin_dir, repo, log, war = tmp_path / "bin", tmp_path / "m2", tmp_path / "mvn.log", tmp_path / "published.war"
    bin_dir.mkdir()
    war.write_bytes(war_bytes())
    mvn = bin_dir / "mvn"
    mvn.write_text(FAKE_MVN.format(python=sys.executable, version=VERSION))
    mvn.chmod(0o755)
    log.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_M2", str(repo))
    monkeypatch.setenv("FAKE_MVN_LOG", str(log))
    monkeypatch.setenv("FAKE_WAR", str(war))
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.m2 of the machine's
    return {"repo": repo, "log": log, "war": war}


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from atlas_mlplugin.server import artifacts
    cache = Path(sys.argv[1])
    with artifacts.download_lock(cache, progress=lambda m: print(m, flush=True)):
        war = artifacts.download_war("2.1.0", cache)
        artifacts.unpack_war(war, cache / (war.stem + "-unpacked"))
    print("done", war)
""")


def test_two_processes_downloading_into_one_cache_get_one_verified_war(fake_maven: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    cache = tmp_path / "downloads"
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(cache)], stdout=subprocess.PIPE, text=True)
                for _ in range(2)]
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    copies = [line for line in fake_maven["log"].read_text().splitlines() if "dependency:copy" in line]
    assert len(copies) == 1, "the second process downloaded again instead of waiting for the first"
    assert any("Waiting for another atlas-ml (pid" in out for out in outputs), outputs  # it said whom it waited for
    war = cache / f"atlas-webapp-{VERSION}.war"
    assert war.read_bytes() == fake_maven["war"].read_bytes()
    assert (cache / f"atlas-webapp-{VERSION}-unpacked" / "WEB-INF" / "web.xml").is_file()
    assert not list(cache.glob(".partial-*")) and not list(cache.glob("*.partial"))


def test_a_download_that_does_not_match_its_published_checksum_is_not_kept(
        fake_maven: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SHA1", hashlib.sha1(b"something else").hexdigest())
    cache = tmp_path / "downloads"
    with pytest.raises(LauncherError, match="does not match its published SHA-1"), artifacts.download_lock(cache):
        artifacts.download_war(VERSION, cache)
    assert not (cache / f"atlas-webapp-{VERSION}.war").exists() and not list(cache.glob(".partial-*"))


def test_a_lock_says_who_holds_it(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    seen: list[str] = []
    with exclusive(lock, None, owner="pid 1: server start") as held:
        assert held and holder_of(lock) == "pid 1: server start"
        code = ("import sys; from pathlib import Path; from atlas_mlplugin.filelock import exclusive\n"
                "with exclusive(Path(sys.argv[1]), 0.3, on_wait=print) as got: print('got', got)")
        out = subprocess.run([sys.executable, "-c", code, str(lock)], capture_output=True, text=True, timeout=30)
        seen = out.stdout.splitlines()
    assert seen == ["pid 1: server start", "got False"]


def test_the_solr_port_stays_while_it_is_free_and_moves_with_a_rebuild_when_taken(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    port, why = state.solr_port()
    assert why is None and state.solr_port() == (port, None)  # kept across starts
    state.solr_home.mkdir(parents=True)
    (state.solr_home / "core").mkdir()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        moved, why = state.solr_port()
    assert moved != port and why is not None and "rebuilt from the graph" in why
    assert not state.solr_home.exists(), "cores registered under the old port must go"
    assert state.solr_port() == (moved, None)


def test_only_a_clean_stop_clears_the_running_mark(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    assert state.unclean_stop() is None
    state.mark_running(pid=4242)
    assert "did not stop cleanly" in (state.unclean_stop() or "")
    state.solr_home.mkdir(parents=True)
    (state.data / "kafka" / "zk").mkdir(parents=True)
    (state.data / "kafka" / "kafka").mkdir(parents=True)
    state.forget_after_unclean_stop()
    assert not state.solr_home.exists() and not (state.data / "kafka" / "zk").exists()
    assert (state.data / "kafka" / "kafka").exists(), "the topics' messages stay"
    state.mark_stopped_cleanly()
    assert state.unclean_stop() is None


def test_wipe_keeps_the_credentials(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    (state.data / "berkeley").mkdir(parents=True)
    state.solr_home.mkdir(parents=True)
    (state.home / "credentials.json").write_text(json.dumps({"user": "admin", "password": "p"}))
    (state.home / "instance.json").write_text("{}")
    assert set(state.wipe()) == {"data/", "solr/", "instance.json"}
    assert (state.home / "credentials.json").is_file() and not state.data.exists()


def test_a_second_launcher_waits_for_the_first_and_says_for_whom(tmp_path: Path) -> None:
    import threading

    from atlas_mlplugin.server.launcher import LauncherOptions, LocalAtlas

    atlas = LocalAtlas(LauncherOptions(state_dir=tmp_path / "state", download_dir=tmp_path / "dl"))
    atlas.home.mkdir(parents=True)
    said: list[str] = []
    with exclusive(atlas.state.lock_file, None, owner="pid 4242: server start"):
        second = threading.Thread(target=lambda: said.append(str(atlas.stop(progress=said.append))))
        second.start()
        second.join(0.5)
        assert second.is_alive(), "the second launcher went ahead while the first held the state dir"
    second.join(10)
    assert said == ["Waiting for another atlas-ml (pid 4242: server start) to finish with "
                    f"{atlas.home} ...", "False"]


def test_a_server_is_set_up_only_once_the_run_that_applies_its_types_is_done_or_gone(tmp_path: Path) -> None:
    """`server run` applies our types after Atlas is ACTIVE, and Atlas shows them before it has indexed them:
    a write in between lost attribute values. Until the run marks the set-up done, health checks must fail;
    a run that died mid-way must not leave the server unhealthy for good."""
    state = StateDir(tmp_path)
    alive = {os.getpid()}
    assert not state.setting_up(alive.__contains__)  # a server started with `server start`: no run sets it up
    state.mark_setting_up(os.getpid())
    assert state.setting_up(alive.__contains__)
    assert not state.setting_up(lambda pid: False)  # the run that wrote it is gone
    state.mark_set_up()
    assert not state.setting_up(alive.__contains__)
    state.mark_set_up()  # twice (the run's normal end, then its finally) is fine
