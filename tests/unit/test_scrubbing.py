"""The scrubber: the shared vectors (the Spark listener's Scrubber is held to the same file) and properties
over generated input: a seeded secret never survives in any of the shapes we know, scrubbing twice changes
nothing (a name scrubbed on either side, or twice, stays one name), and text without secrets is left alone."""

from __future__ import annotations

import json
import logging
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_mlplugin.scrubbing import ScrubbingFilter, scrub_name, scrub_text, scrub_uri, scrub_value

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "scrubbing.json").read_text())
SCRUBBERS = {"text": scrub_text, "name": scrub_name, "uri": scrub_uri}


@pytest.mark.parametrize(("kind", "vector"), [(k, v) for k in SCRUBBERS for v in VECTORS[k]],
                         ids=lambda x: x if isinstance(x, str) else x["in"][:50])
def test_shared_vectors(kind: str, vector: dict) -> None:
    scrubbed = SCRUBBERS[kind](vector["in"])
    assert scrubbed == vector["out"]
    for secret in vector["secrets"]:
        assert secret not in scrubbed


# A secret of the kind people use: letters, digits and the punctuation passwords allow in these positions.
secrets = st.text(alphabet=string.ascii_letters + string.digits + "!#$%*+-.^_~", min_size=6, max_size=40).filter(
    lambda s: s.strip(".-") == s and any(c.isalnum() for c in s))
KEY_WORDS = ["password", "PASSWORD", "db_password", "passwd", "pwd", "secret", "client_secret", "token",
             "access_token", "api_key", "apiKey", "AccountKey", "fs.s3a.secret.key", "credential", "passphrase"]
SHAPES = [
    "{k}={s}", "{k}= {s}", "{k} = {s}", "{k}: {s}", '{k}="{s}"', "{k}='{s}'", "failed ({k}={s}) twice",
    "jdbc:postgresql://db:5432/app?user=bob&{k}={s}", "jdbc:sqlserver://db;{k}={s};databaseName=x",
    "https://host/path?a=1&{k}={s}&b=2",
]
URL_SHAPES = [
    "postgresql://bob:{s}@db/app", "jdbc:mysql://bob:{s}@db:3306/app", "s3a://AKIAIOSFODNN7EXAMPLE:{s}@bucket/k",
    "jdbc:oracle:thin:scott/{s}@//db:1521/ORCL", "sqlplus scott/{s}@orcl", "Authorization: Bearer {s}",
    "Authorization: Basic {s}", "X-Api-Key: {s}", "https://a.blob.core.windows.net/c?sv=2020&sig={s}",
    "https://s3.amazonaws.com/b/k?X-Amz-Signature={s}",
]


@settings(max_examples=300)
@given(secret=secrets, key=st.sampled_from(KEY_WORDS), shape=st.sampled_from(SHAPES),
       prefix=st.sampled_from(["", "error: ", "job ", "(", "x "]))
def test_an_assigned_secret_never_survives(secret: str, key: str, shape: str, prefix: str) -> None:
    text = prefix + shape.format(k=key, s=secret)
    for scrub in (scrub_text, scrub_name):
        assert secret not in scrub(text), (scrub.__name__, text)


@settings(max_examples=300)
@given(secret=secrets.filter(lambda s: len(s) >= 12 or "@" not in s), shape=st.sampled_from(URL_SHAPES),
       suffix=st.sampled_from(["", " failed", "; retry", "' sent", ")"]))
def test_a_secret_in_a_url_or_header_never_survives(secret: str, shape: str, suffix: str) -> None:
    text = shape.format(s=secret) + suffix
    assert secret not in scrub_text(text), text
    assert secret not in scrub_name(text), text


@settings(max_examples=500)
@given(text=st.text(max_size=200))
def test_scrubbing_twice_changes_nothing(text: str) -> None:
    for scrub in (scrub_text, scrub_name, scrub_uri):
        once = scrub(text)
        assert scrub(once) == once, (scrub.__name__, text)


# Words, paths and numbers without any of the markers a secret needs (=, :, @, a secret word).
plain = st.text(alphabet=string.ascii_lowercase + string.digits + " /._-", max_size=80).filter(
    lambda s: not any(w in s for w in ("pass", "pwd", "secret", "token", "key", "credential", "bearer", "basic",
                                       "negotiate", "sig", "akia", "asia", "gh", "xox", "glpat")))


@given(text=plain)
def test_text_without_secrets_is_left_alone(text: str) -> None:
    assert scrub_text(text) == text
    assert scrub_name(text) == text


def test_scrub_value_reaches_every_string_and_keeps_the_shape() -> None:
    value = {"name": "jdbc:postgresql://bob:pw123@db/app", "n": 3, "facets": [{"msg": "password=pw123"}, None],
             "local_path": "/data/password=pw123"}
    scrubbed = scrub_value(value, keep=frozenset({"local_path"}))
    assert scrubbed == {"name": "jdbc:postgresql://db/app", "n": 3, "facets": [{"msg": "password=***"}, None],
                        "local_path": "/data/password=pw123"}


def test_log_records_are_scrubbed_before_any_handler_sees_them(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("atlas_mlplugin.test_scrubbing")
    log.addFilter(ScrubbingFilter())
    with caplog.at_level(logging.INFO, logger=log.name):
        log.info("connecting to %s with %s", "postgresql://bob:pw123@db/app", "Authorization: Bearer abcdefghijklmnop")
        try:
            raise RuntimeError("password=pw123 rejected")
        except RuntimeError:
            log.exception("failed")
    text = caplog.text
    assert "pw123" not in text and "abcdefghijklmnop" not in text
    assert "postgresql://db/app" in text and "password=***" in text


ADVERSARIAL = ["password." * 7000, "a." * 32000, "a:" * 32000, "a.b-" * 16000 + "password=x", "?password=" * 6000,
               "scott/" * 10000 + "@h", "Authorization: Bearer " * 3000, "-----BEGIN PRIVATE KEY-----" * 2000]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=lambda t: f"{t[:12]}...x{len(t)}")
def test_adversarial_input_does_not_hang_the_scrubber(text: str) -> None:
    """Every event string goes through the scrubber on the receiver's threads: one must not tie a worker up
    (patterns that backtracked took seconds on 4 KB; these are 64 KB and take milliseconds)."""
    import signal

    def hung(*_: object) -> None:
        raise TimeoutError("the scrubber took over 10 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        for scrub in (scrub_text, scrub_name, scrub_uri):
            scrub(text)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _package_loggers() -> dict[str, logging.Logger]:
    """Import every module of the package; return the loggers they made (logger(__name__) or otherwise)."""
    import importlib
    import pkgutil

    import atlas_mlplugin

    for module in pkgutil.walk_packages(atlas_mlplugin.__path__, "atlas_mlplugin."):
        if not module.name.endswith(".__main__"):  # that one runs the CLI
            importlib.import_module(module.name)
    return {name: found for name, found in logging.Logger.manager.loggerDict.items()
            if name.startswith("atlas_mlplugin") and isinstance(found, logging.Logger)}


def test_every_package_logger_scrubs_its_records(caplog: pytest.LogCaptureFixture) -> None:
    """A module that took its logger from logging.getLogger directly would log credentials through any
    handler a host application installs (ours are filtered in the CLI only)."""
    loggers = _package_loggers()
    assert len(loggers) >= 12, sorted(loggers)  # the walk really imported the package
    unfiltered = [n for n, lg in loggers.items() if not any(isinstance(f, ScrubbingFilter) for f in lg.filters)]
    assert unfiltered == []
    caplog.set_level(logging.DEBUG)
    for name, found in loggers.items():
        found.warning("connecting to %s", "jdbc:postgresql://db/app?user=bob&password=hunter2-" + name)
    assert caplog.records and "hunter2" not in caplog.text
