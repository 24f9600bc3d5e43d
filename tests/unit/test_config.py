"""AtlasSettings: defaults, properties file, environment, precedence and error reporting."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.config import AtlasSettings, parse_properties
from atlas_mlplugin.atlas.errors import ConfigError

SECRET_PW = "pw-Sup3rSecret!"
SECRET_TOKEN = "tok-Sup3rSecret-abc123"


def write(tmp_path: Path, text: str, name: str = "atlas-ml.properties") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = AtlasSettings.load(env={})
    assert s.url == "http://127.0.0.1:21000"
    assert s.username is None and s.password is None and s.token is None
    assert s.verify_tls is True and s.ca_bundle is None and s.verify is True
    assert (s.connect_timeout, s.read_timeout) == (5.0, 60.0)
    assert s.timeout == (5.0, 60.0)
    assert s.max_retries == 5
    assert (s.backoff_initial, s.backoff_max) == (0.5, 20.0)
    assert s.auth_mode == "none"


def test_properties_file_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# comment\n"
        "! another comment\n"
        "atlas.url = https://atlas.example.org:21443/\n"
        "atlas.username: alice\n"
        f"atlas.password={SECRET_PW}\n"
        "atlas.verify_tls=false\n"
        "atlas.connect_timeout 2.5\n"
        "atlas.read_timeout=\\\n"
        "    30\n"
        "atlas.max_retries=7\n"
        "atlas.backoff_initial=0.1\n"
        "atlas.backoff_max=3\n"
        "other.tool.setting=ignored\n",
    )
    s = AtlasSettings.load(path, env={})
    assert s.url == "https://atlas.example.org:21443"
    assert s.username == "alice"
    assert s.password is not None and s.password.get_secret_value() == SECRET_PW
    assert s.verify_tls is False and s.verify is False
    assert s.connect_timeout == 2.5 and s.read_timeout == 30.0
    assert s.max_retries == 7
    assert (s.backoff_initial, s.backoff_max) == (0.1, 3.0)
    assert s.auth_mode == "basic"
    assert s.sources["url"] == f"atlas.url ({path}:3)"


def test_parse_properties_java_semantics() -> None:
    text = "a=1\n  b : two words \nc\\:d=e\\tf\nlong=x\\\n   y\\\n   z\nuni=caf\\u00e9\n# x=y\nempty=\n"
    entries = {k: (line, v) for line, k, v in parse_properties(text)}
    assert entries["a"] == (1, "1")
    assert entries["b"] == (2, "two words ")
    assert entries["c:d"] == (3, "e\tf")
    assert entries["long"] == (4, "xyz")
    assert entries["uni"] == (7, "café")
    assert entries["empty"] == (9, "")
    assert "# x" not in entries


def test_env_overrides_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, "atlas.url=http://from-file:21000\natlas.username=file-user\natlas.read_timeout=11\n"
    )
    env = {"ATLAS_URL": "http://from-env:21000", "ATLAS_READ_TIMEOUT": "22"}
    s = AtlasSettings.load(path, env=env)
    assert s.url == "http://from-env:21000"
    assert s.read_timeout == 22.0
    assert s.username == "file-user"  # not overridden, so the file value survives
    assert s.sources["url"] == "ATLAS_URL (environment variable)"


def test_overrides_beat_env() -> None:
    s = AtlasSettings.load(
        env={"ATLAS_URL": "http://env:1"}, overrides={"url": "http://flag:2", "username": None}
    )
    assert s.url == "http://flag:2"
    with pytest.raises(ConfigError, match="unknown Atlas setting 'nope'"):
        AtlasSettings.load(env={}, overrides={"nope": 1})


def test_config_file_from_env_var(tmp_path: Path) -> None:
    path = write(tmp_path, "atlas.max_retries=9\n")
    s = AtlasSettings.load(env={"ATLAS_ML_CONFIG": str(path)})
    assert s.max_retries == 9


def test_explicit_file_beats_env_var_file(tmp_path: Path) -> None:
    a = write(tmp_path, "atlas.max_retries=2\n", "a.properties")
    b = write(tmp_path, "atlas.max_retries=3\n", "b.properties")
    assert AtlasSettings.load(a, env={"ATLAS_ML_CONFIG": str(b)}).max_retries == 2


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.properties"
    with pytest.raises(ConfigError) as info:
        AtlasSettings.load(missing, env={})
    assert str(missing) in str(info.value)
    assert "does not exist" in str(info.value)


def test_missing_file_named_by_env_var_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone.properties"
    with pytest.raises(ConfigError) as info:
        AtlasSettings.load(env={"ATLAS_ML_CONFIG": str(missing)})
    assert str(missing) in str(info.value)
    assert "ATLAS_ML_CONFIG" in str(info.value)


def test_user_aliases() -> None:
    assert AtlasSettings.load(env={"ATLAS_USERNAME": "bob"}).username == "bob"
    both = AtlasSettings.load(env={"ATLAS_USER": "alice", "ATLAS_USERNAME": "bob"})
    assert both.username == "alice"


def test_empty_env_vars_count_as_unset(tmp_path: Path) -> None:
    path = write(tmp_path, "atlas.url=http://file:21000\n")
    s = AtlasSettings.load(path, env={"ATLAS_URL": "", "ATLAS_TOKEN": "", "ATLAS_MAX_RETRIES": ""})
    assert s.url == "http://file:21000"
    assert s.token is None
    assert s.max_retries == 5


def test_token_wins_over_basic() -> None:
    s = AtlasSettings.load(env={"ATLAS_USER": "u", "ATLAS_PASSWORD": SECRET_PW, "ATLAS_TOKEN": SECRET_TOKEN})
    assert s.auth_mode == "bearer"


@pytest.mark.parametrize(
    ("var", "value", "expected_words"),
    [
        ("ATLAS_CONNECT_TIMEOUT", "abc", "number of seconds > 0"),
        ("ATLAS_READ_TIMEOUT", "-1", "number of seconds > 0"),
        ("ATLAS_READ_TIMEOUT", "nan", "number of seconds > 0"),
        ("ATLAS_MAX_RETRIES", "0", "integer between 1 and 100"),
        ("ATLAS_MAX_RETRIES", "2.5", "integer between 1 and 100"),
        ("ATLAS_VERIFY_TLS", "maybe", "boolean"),
        ("ATLAS_URL", "ftp://atlas:21000", "http:// or https:// URL"),
        ("ATLAS_URL", "atlas.example.org", "http:// or https:// URL"),
        ("ATLAS_CA_BUNDLE", "/definitely/not/here.pem", "CA bundle"),
    ],
)
def test_bad_env_value_names_variable_and_expectation(var: str, value: str, expected_words: str) -> None:
    with pytest.raises(ConfigError) as info:
        AtlasSettings.load(env={var: value})
    err = info.value
    assert var in str(err)
    assert expected_words in str(err)
    assert repr(value) in str(err)
    assert err.key == var
    assert err.source == "environment variable"
    assert err.hint and err.hint in str(err)


def test_bad_file_value_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "# header\natlas.url=http://ok:21000\n\natlas.connect_timeout=soon\n")
    with pytest.raises(ConfigError) as info:
        AtlasSettings.load(path, env={})
    msg = str(info.value)
    assert f"{path}:4" in msg
    assert "atlas.connect_timeout" in msg
    assert "number of seconds > 0" in msg
    assert info.value.source == f"{path}:4"
    assert info.value.key == "atlas.connect_timeout"


def test_credentials_in_url_rejected_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as info:
        AtlasSettings.load(env={"ATLAS_URL": "http://admin:hunter2@atlas:21000"})
    assert "credentials in the URL" in str(info.value)
    assert "ATLAS_URL" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_password_never_echoed_in_errors(tmp_path: Path) -> None:
    # A password without a user is a cross-field error; the message must not contain the password.
    with pytest.raises(ConfigError) as info:
        AtlasSettings.load(env={"ATLAS_PASSWORD": SECRET_PW})
    assert SECRET_PW not in str(info.value)
    assert "ATLAS_PASSWORD" in str(info.value)


def test_backoff_order_checked_and_sources_named(tmp_path: Path) -> None:
    path = write(tmp_path, "atlas.backoff_initial=5\n")
    with pytest.raises(ConfigError) as info:
        AtlasSettings.load(path, env={"ATLAS_BACKOFF_MAX": "1"})
    msg = str(info.value)
    assert "backoff_initial" in msg and "backoff_max" in msg
    assert f"{path}:1" in msg and "ATLAS_BACKOFF_MAX" in msg


def test_url_normalisation() -> None:
    assert AtlasSettings(url="http://h:21000/").url == "http://h:21000"
    assert AtlasSettings(url="http://h:21000/api/atlas/").url == "http://h:21000"
    assert AtlasSettings(url="https://gw.example.org/atlas").url == "https://gw.example.org/atlas"


def test_ca_bundle_is_what_verify_uses(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    s = AtlasSettings.load(env={"ATLAS_CA_BUNDLE": str(bundle), "ATLAS_VERIFY_TLS": "false"})
    assert s.verify == str(bundle)


def test_relative_ca_bundle_in_file_is_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("x")
    path = write(tmp_path, "atlas.ca_bundle=certs/ca.pem\n")
    s = AtlasSettings.load(path, env={})
    assert s.verify == str(tmp_path / "certs" / "ca.pem")


def test_unknown_atlas_key_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "atlas.urll=http://typo:1\natlas.rest.address=http://other-tool\n")
    with caplog.at_level(logging.WARNING):
        AtlasSettings.load(path, env={})
    assert any("atlas.urll" in r.getMessage() and f"{path}:1" in r.getMessage() for r in caplog.records)
    assert not any("atlas.rest.address" in r.getMessage() for r in caplog.records)


def test_secrets_never_in_repr_str_or_dump(tmp_path: Path) -> None:
    path = write(tmp_path, f"atlas.username=alice\natlas.password={SECRET_PW}\n")
    s = AtlasSettings.load(path, env={"ATLAS_TOKEN": SECRET_TOKEN})
    for text in (repr(s), str(s), s.model_dump_json(), str(s.redacted()), str(s.sources), f"{s!r}"):
        assert SECRET_PW not in text
        assert SECRET_TOKEN not in text
    assert s.redacted()["password"] == "**********"
    assert s.password is not None and s.password.get_secret_value() == SECRET_PW


def test_settings_are_frozen() -> None:
    s = AtlasSettings()
    with pytest.raises(Exception):  # noqa: B017 -- pydantic raises ValidationError for frozen models
        s.url = "http://other:1"  # type: ignore[misc]


def test_model_copy_update_is_validated() -> None:
    base = AtlasSettings.load(env={"ATLAS_URL": "http://env:1"})
    copy = base.model_copy(update={"url": "http://local:21000/", "username": "admin", "password": SECRET_PW})
    assert copy.url == "http://local:21000"
    assert copy.password is not None and copy.password.get_secret_value() == SECRET_PW
    assert SECRET_PW not in repr(copy)
    assert copy.sources["url"] == "url (update)"
    with pytest.raises(ConfigError, match="read_timeout"):
        base.model_copy(update={"read_timeout": -1})
    with pytest.raises(ConfigError, match="nope"):
        base.model_copy(update={"nope": 1})
    assert base.model_copy() == base
