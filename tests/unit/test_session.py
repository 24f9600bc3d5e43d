"""Transport policy of AtlasSession against a real, scripted HTTP server on 127.0.0.1.

Every request must carry timeouts, auth and TLS settings; retries must happen on connection errors,
timeouts, 429 and 5xx only, and the SDK reached through ``AtlasClient.sdk`` must inherit all of it.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from atlas_mlplugin.atlas import AtlasClient, AtlasUnavailableError
from atlas_mlplugin.atlas.session import BasicAuth, BearerAuth, attempts_of, build_session, parse_retry_after
from tests.unit.scripted_http import PASSWORD, Reply, ScriptedServer, closed_port_url, fast

TOKEN = "tok-Sup3rSecret-abc123"



# --------------------------------------------------------------------------------------------------
# Retry policy.


def test_retries_5xx_until_success(server: ScriptedServer) -> None:
    server.script(Reply(503, "busy"), Reply(502, "bad gw"), Reply(200, {"ok": True}))
    session = build_session(fast(server.url))
    resp = session.get(server.url + "/api/atlas/admin/version")
    assert resp.status_code == 200 and resp.json() == {"ok": True}
    assert len(server.seen) == 3
    assert attempts_of(resp) == 3


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_status_uses_exactly_max_retries_attempts(server: ScriptedServer, status: int) -> None:
    server.default = Reply(status, "nope")
    session = build_session(fast(server.url, max_retries=4))
    resp = session.get(server.url + "/x")
    assert resp.status_code == status  # the final response is handed back, not swallowed
    assert len(server.seen) == 4
    assert attempts_of(resp) == 4


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409])
def test_other_4xx_never_retried(server: ScriptedServer, status: int) -> None:
    server.default = Reply(status, {"errorCode": "ATLAS-X", "errorMessage": "no"})
    session = build_session(fast(server.url, max_retries=5))
    resp = session.post(server.url + "/x", json={"a": 1})
    assert resp.status_code == status
    assert len(server.seen) == 1


def test_connection_refused_retried_then_typed_error(caplog: pytest.LogCaptureFixture) -> None:
    url = closed_port_url()
    session = build_session(fast(url, max_retries=3))
    with (
        caplog.at_level(logging.WARNING, logger="atlas_mlplugin"),
        pytest.raises(AtlasUnavailableError) as info,
    ):
        session.get(url + "/api/atlas/admin/status")
    err = info.value
    assert err.attempts == 3
    text = str(err)
    assert url in text
    assert "3 attempts" in text
    assert "Connection refused" in text
    assert "atlas-ml server start" in text and "ATLAS_URL" in text and "is the server running?" in text
    retries = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(retries) == 2  # attempts 1 and 2 are followed by a retry; attempt 3 gives up
    assert "attempt 1/3" in retries[0].getMessage()
    assert "connection error: Connection refused" in retries[0].getMessage()


def test_read_timeout_fires_and_is_retried(server: ScriptedServer) -> None:
    server.default = Reply(200, {}, delay=0.6)
    session = build_session(fast(server.url, read_timeout=0.1, max_retries=2))
    start = time.monotonic()
    with pytest.raises(AtlasUnavailableError) as info:
        session.get(server.url + "/slow")
    elapsed = time.monotonic() - start
    assert elapsed < 1.0
    assert len(server.seen) == 2
    assert "read timeout after 0.1s" in str(info.value)
    assert "ATLAS_READ_TIMEOUT" in str(info.value)


def test_explicit_none_timeout_still_gets_ours(server: ScriptedServer) -> None:
    server.default = Reply(200, {}, delay=0.6)
    session = build_session(fast(server.url, read_timeout=0.1, max_retries=1))
    start = time.monotonic()
    with pytest.raises(AtlasUnavailableError):
        session.request("GET", server.url + "/slow", timeout=None)
    assert time.monotonic() - start < 0.5


def test_max_attempts_override_disables_retries(server: ScriptedServer) -> None:
    server.default = Reply(503, "down")
    session = build_session(fast(server.url, max_retries=5))
    assert session.get(server.url + "/x", max_attempts=1).status_code == 503
    assert len(server.seen) == 1


def test_tls_errors_are_not_retried(server: ScriptedServer) -> None:
    https_url = server.url.replace("http://", "https://")
    session = build_session(fast(https_url, max_retries=4))
    with pytest.raises(AtlasUnavailableError) as info:
        session.get(https_url + "/x")
    assert info.value.attempts == 1
    assert "ATLAS_CA_BUNDLE" in str(info.value)


def test_retry_after_is_honoured(server: ScriptedServer) -> None:
    server.script(Reply(503, "wait", headers={"Retry-After": "0.3"}), Reply(200, {}))
    session = build_session(fast(server.url, backoff_initial=0.001, backoff_max=2.0))
    start = time.monotonic()
    assert session.get(server.url + "/x").status_code == 200
    assert time.monotonic() - start >= 0.3


def test_retry_after_is_capped_by_backoff_max(server: ScriptedServer) -> None:
    server.script(Reply(429, "slow down", headers={"Retry-After": "120"}), Reply(200, {}))
    session = build_session(fast(server.url, backoff_initial=0.01, backoff_max=0.05))
    start = time.monotonic()
    assert session.get(server.url + "/x").status_code == 200
    assert time.monotonic() - start < 1.0


def test_parse_retry_after() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    http_date = "Wed, 21 Oct 2015 07:28:10 GMT"
    now = 1445412480.0  # 07:28:00 that day
    assert parse_retry_after(http_date, now=now) == pytest.approx(10.0)


# --------------------------------------------------------------------------------------------------
# Auth, TLS and per-request settings.


def test_basic_auth_header_sent(server: ScriptedServer) -> None:
    session = build_session(fast(server.url))
    session.get(server.url + "/x")
    expected = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert server.seen[0].headers["Authorization"] == expected


def test_bearer_wins_over_basic(server: ScriptedServer) -> None:
    session = build_session(fast(server.url, token=TOKEN))
    session.get(server.url + "/x")
    assert server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_no_credentials_no_header(server: ScriptedServer) -> None:
    session = build_session(fast(server.url, username=None, password=None))
    session.get(server.url + "/x")
    assert "Authorization" not in server.seen[0].headers


class RecordingAdapter(HTTPAdapter):
    """Captures the per-request transport kwargs requests hands to the adapter."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.calls.append(kwargs)
        return super().send(request, **kwargs)


def test_every_request_gets_timeout_and_verify(
    server: ScriptedServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # REQUESTS_CA_BUNDLE must not silently override our TLS settings.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/somewhere/else.pem")
    session = build_session(fast(server.url, connect_timeout=1.5, read_timeout=7.0, verify_tls=False))
    adapter = RecordingAdapter()
    session.mount("http://", adapter)
    session.get(server.url + "/a")
    session.post(server.url + "/b", json={})
    session.request("DELETE", server.url + "/c", timeout=None, verify=None)
    assert [c["timeout"] for c in adapter.calls] == [(1.5, 7.0)] * 3
    assert [c["verify"] for c in adapter.calls] == [False] * 3

    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    session = build_session(fast(server.url, ca_bundle=bundle))
    adapter = RecordingAdapter()
    session.mount("http://", adapter)
    session.get(server.url + "/a")
    assert adapter.calls[0]["verify"] == str(bundle)


def test_reprs_hide_secrets() -> None:
    settings = fast("http://127.0.0.1:1", token=TOKEN)
    for obj in (
        build_session(settings),
        BearerAuth(TOKEN),
        BasicAuth("admin", PASSWORD),
        AtlasClient(settings),
        AtlasClient(fast("http://127.0.0.1:1")),
        settings,
    ):
        assert TOKEN not in repr(obj) and PASSWORD not in repr(obj)


def test_retry_logs_never_contain_credentials(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(Reply(503, f"echo {PASSWORD}"), Reply(500, "boom"), Reply(200, {}))
    session = build_session(fast(server.url))
    with caplog.at_level(logging.DEBUG):
        session.post(server.url + "/api/atlas/v2/entity/bulk?x=1", json={"secret": PASSWORD})
    bearer = build_session(fast(server.url, token=TOKEN))
    server.script(Reply(503, "x"), Reply(200, {}))
    with caplog.at_level(logging.DEBUG):
        bearer.get(server.url + "/api/atlas/admin/version")

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert "Atlas POST /api/atlas/v2/entity/bulk failed (attempt 1/3): HTTP 503" in warnings[0]
    assert "attempt 2/3): HTTP 500" in warnings[1]
    basic = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    for record in caplog.records:
        message = record.getMessage()
        for secret in (PASSWORD, TOKEN, basic, "Authorization"):
            assert secret not in message


# --------------------------------------------------------------------------------------------------
# The SDK rides on our session.


def test_sdk_shares_session_and_retries(server: ScriptedServer) -> None:
    server.script(Reply(503, "starting"), Reply(200, {"data": {"general": {"entityCount": 3}}}))
    client = AtlasClient(fast(server.url))
    assert client.sdk.session is client.session
    metrics = client.sdk.admin.get_metrics()
    assert metrics.general["entityCount"] == 3
    assert [s.path for s in server.seen] == ["/api/atlas/admin/metrics"] * 2
    expected = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert all(s.headers["Authorization"] == expected for s in server.seen)


def test_sdk_typedef_call_times_out(server: ScriptedServer) -> None:
    from apache_atlas.model.misc import SearchFilter

    server.default = Reply(200, {}, delay=0.6)
    client = AtlasClient(fast(server.url, read_timeout=0.1, max_retries=2))
    start = time.monotonic()
    with pytest.raises(AtlasUnavailableError) as info:
        client.sdk.typedef.get_all_typedefs(SearchFilter())
    assert time.monotonic() - start < 1.0
    assert info.value.attempts == 2
    assert len(server.seen) == 2
    assert server.seen[0].path.startswith("/api/atlas/v2/types/typedefs")


def test_sdk_keeps_url_path_prefix(server: ScriptedServer) -> None:
    client = AtlasClient(fast(server.url + "/gateway/atlas"))
    client.sdk.admin.get_metrics()
    assert server.seen[0].path == "/gateway/atlas/api/atlas/admin/metrics"


def test_a_write_that_timed_out_is_not_sent_again_at_once(server: ScriptedServer) -> None:
    """Atlas may still be applying it: re-sending a heavy bulk POST piles the work up on the server."""
    server.default = Reply(200, {}, delay=0.6)
    session = build_session(fast(server.url, read_timeout=0.1, max_retries=3))
    with pytest.raises(AtlasUnavailableError) as info:
        session.post(server.url + "/api/atlas/v2/entity/bulk", json={"entities": []})
    assert len(server.seen) == 1
    assert info.value.attempts == 1 and "not re-sent" in str(info.value)
