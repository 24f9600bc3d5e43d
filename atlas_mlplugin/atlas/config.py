"""Connection settings for Atlas, layered defaults < properties file < environment.

A Java-style properties file is supported because Atlas operators already keep their settings in
``atlas-application.properties``-like files; environment variables win so that CI jobs and containers
can override a shared file without editing it. Every bad value is reported with where it came from
(``ATLAS_CONNECT_TIMEOUT`` or ``/etc/atlas-ml.properties:12``) because "invalid float" alone sends
users hunting through three layers of configuration.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from atlas_mlplugin.atlas.errors import ConfigError
from atlas_mlplugin.scrubbing import logger

log = logger(__name__)

DEFAULT_URL = "http://127.0.0.1:21000"
CONFIG_FILE_ENV = "ATLAS_ML_CONFIG"
PROPERTIES_PREFIX = "atlas."

# What each setting must look like, in words a user can act on.
_EXPECTED: dict[str, str] = {
    "url": "an http:// or https:// URL of the Atlas server, e.g. http://127.0.0.1:21000 (no credentials)",
    "username": "a user name",
    "password": "a password",
    "token": "a bearer token",
    "verify_tls": "a boolean: true/false, yes/no, on/off or 1/0",
    "ca_bundle": "the path of an existing CA bundle file (PEM) or certificate directory",
    "connect_timeout": "a number of seconds > 0",
    "read_timeout": "a number of seconds > 0",
    "max_retries": "an integer between 1 and 100 (total attempts per request)",
    "backoff_initial": "a number of seconds >= 0",
    "backoff_max": "a number of seconds >= 0, not smaller than backoff_initial",
}
_SECRET_FIELDS = frozenset({"password", "token"})

# Environment variables in the order they are consulted; for the same field a later entry does not
# override an earlier one (ATLAS_USER beats ATLAS_USERNAME).
_ENV_VARS: tuple[tuple[str, str], ...] = (
    ("ATLAS_URL", "url"),
    ("ATLAS_USER", "username"),
    ("ATLAS_USERNAME", "username"),
    ("ATLAS_PASSWORD", "password"),
    ("ATLAS_TOKEN", "token"),
    ("ATLAS_VERIFY_TLS", "verify_tls"),
    ("ATLAS_CA_BUNDLE", "ca_bundle"),
    ("ATLAS_CONNECT_TIMEOUT", "connect_timeout"),
    ("ATLAS_READ_TIMEOUT", "read_timeout"),
    ("ATLAS_MAX_RETRIES", "max_retries"),
    ("ATLAS_BACKOFF_INITIAL", "backoff_initial"),
    ("ATLAS_BACKOFF_MAX", "backoff_max"),
)

# Properties keys: atlas.<field>, plus atlas.user as an alias matching ATLAS_USER.
_PROPERTY_KEYS: dict[str, str] = {PROPERTIES_PREFIX + name: name for name in _EXPECTED}
_PROPERTY_KEYS[PROPERTIES_PREFIX + "user"] = "username"


class _Source:
    """Where one raw value came from, so validation errors can point at it."""

    __slots__ = ("origin", "key", "raw")

    def __init__(self, origin: str, key: str, raw: Any) -> None:
        self.origin = origin
        self.key = key
        self.raw = raw

    def __str__(self) -> str:
        return f"{self.key} ({self.origin})"


class AtlasSettings(BaseModel):
    """How to reach and authenticate against one Atlas server.

    Frozen so that a session built from it can never drift from what was validated.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = DEFAULT_URL
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = Field(default=None, description="Bearer token; wins over basic auth.")
    verify_tls: bool = True
    ca_bundle: Path | None = Field(default=None, description="When set, TLS is verified against it.")
    connect_timeout: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    read_timeout: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    max_retries: int = Field(default=5, ge=1, le=100, description="Total attempts per request.")
    backoff_initial: float = Field(default=0.5, ge=0, allow_inf_nan=False)
    backoff_max: float = Field(default=20.0, ge=0, allow_inf_nan=False)

    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL with a host")
        if parts.username or parts.password:
            raise ValueError("credentials in the URL are not allowed; use ATLAS_USER/ATLAS_PASSWORD")
        if parts.query or parts.fragment:
            raise ValueError("the URL must not have a query string or fragment")
        try:
            parts.port  # noqa: B018 -- raises ValueError for a malformed port
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        value = value.rstrip("/")
        # People often paste the REST base; accept it rather than producing /api/atlas/api/atlas.
        if value.endswith("/api/atlas"):
            value = value[: -len("/api/atlas")]
        return value

    @field_validator("username")
    @classmethod
    def _blank_username_is_none(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        return value or None

    @field_validator("password", "token", mode="before")
    @classmethod
    def _blank_secret_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and value == "":
            return None
        if isinstance(value, SecretStr) and value.get_secret_value() == "":
            return None
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle_exists(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        value = value.expanduser()
        if not value.exists():
            raise ValueError(f"{value} does not exist")
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> AtlasSettings:
        if self.backoff_initial > self.backoff_max:
            raise ValueError(
                f"backoff_initial ({self.backoff_initial}) is larger than backoff_max ({self.backoff_max})"
            )
        if self.password is not None and self.username is None and self.token is None:
            raise ValueError("a password is set but no username (set ATLAS_USER / atlas.username)")
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> AtlasSettings:
        """Like pydantic's, but ``update`` is validated.

        pydantic's ``model_copy(update=...)`` skips validation, which would leave e.g. a plain-str
        password (shown by repr, unusable by the session) or an unnormalised URL in a frozen,
        supposedly validated object.
        """
        if not update:
            return super().model_copy(deep=deep)
        unknown = set(update) - set(type(self).model_fields)
        if unknown:
            raise ConfigError(f"unknown Atlas setting(s): {', '.join(sorted(unknown))}", source="model_copy")
        raw = {name: _Source("current settings", name, value) for name, value in self}
        raw.update({name: _Source("update", name, value) for name, value in update.items()})
        copy = type(self)._from_sources(raw)
        copy._sources.clear()
        copy._sources.update(self._sources)
        copy._sources.update({name: f"{name} (update)" for name in update})
        return copy

    # ----------------------------------------------------------------------------------------------
    # Derived views used by the session.

    @property
    def verify(self) -> bool | str:
        """The value for requests' ``verify``: a CA bundle when configured, otherwise the on/off switch."""
        if self.ca_bundle is not None:
            return str(self.ca_bundle)
        return self.verify_tls

    @property
    def timeout(self) -> tuple[float, float]:
        """The (connect, read) pair that requests expects."""
        return (self.connect_timeout, self.read_timeout)

    @property
    def auth_mode(self) -> Literal["bearer", "basic", "none"]:
        if self.token is not None:
            return "bearer"
        if self.username is not None:
            return "basic"
        return "none"

    @property
    def sources(self) -> dict[str, str]:
        """Where each non-default setting came from, for ``atlas-ml config show``-style output."""
        return dict(self._sources)

    def redacted(self) -> dict[str, Any]:
        """A printable dict in which secrets are only reported as set/unset."""
        data = self.model_dump()
        for name in _SECRET_FIELDS:
            data[name] = "**********" if data[name] is not None else None
        if data["ca_bundle"] is not None:
            data["ca_bundle"] = str(data["ca_bundle"])
        return data

    # ----------------------------------------------------------------------------------------------
    # Loading.

    @classmethod
    def load(
        cls,
        properties_file: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
    ) -> AtlasSettings:
        """Build settings from defaults, then a properties file, then the environment, then ``overrides``.

        The properties file is ``properties_file`` or else ``$ATLAS_ML_CONFIG``; naming a file that does
        not exist is an error rather than silently using defaults, since the user clearly meant it.
        Empty environment variables count as unset. ``overrides`` (e.g. CLI flags) win over everything;
        ``None`` values in it are ignored.
        """
        env = os.environ if env is None else env
        raw: dict[str, _Source] = {}

        path: Path | None = None
        if properties_file is not None:
            path = Path(properties_file)
            named_by = "the properties file given"
        elif env.get(CONFIG_FILE_ENV):
            path = Path(env[CONFIG_FILE_ENV])
            named_by = f"{CONFIG_FILE_ENV}"
        if path is not None:
            path = path.expanduser()
            if not path.is_file():
                what = "is a directory" if path.is_dir() else "does not exist"
                raise ConfigError(
                    f"Atlas properties file {path} {what} (named by {named_by})",
                    source=str(path),
                    key=None,
                    hint=f"create the file, fix the path, or unset {CONFIG_FILE_ENV}",
                )
            raw.update(_read_properties(path))

        for var, name in _ENV_VARS:
            value = env.get(var)
            if value is None or value == "":
                continue
            if name in raw and raw[name].origin == "environment variable":
                continue  # an earlier alias already set it
            if name == "ca_bundle":
                value = str(Path(value).expanduser())
            raw[name] = _Source("environment variable", var, value)

        for name, value in (overrides or {}).items():
            if value is None:
                continue
            if name not in _EXPECTED:
                raise ConfigError(f"unknown Atlas setting {name!r}", source="overrides", key=name)
            raw[name] = _Source("override", name, value)

        return cls._from_sources(raw)

    @classmethod
    def _from_sources(cls, raw: Mapping[str, _Source]) -> AtlasSettings:
        try:
            settings = cls.model_validate({name: src.raw for name, src in raw.items()})
        except ValidationError as exc:
            raise _config_error(exc, raw) from None
        settings._sources.update({name: str(src) for name, src in raw.items()})
        return settings


def _redact_userinfo(url: str) -> str:
    """Hide a password someone put into the URL before the URL goes into an error message."""
    return re.sub(r"(?<=://)[^/@]*@", "***@", url, count=1)


def _config_error(exc: ValidationError, raw: Mapping[str, _Source]) -> ConfigError:
    """Turn pydantic's error list into one message naming source, key and expectation per problem."""
    lines: list[str] = []
    first_source: str | None = None
    first_key: str | None = None
    for err in exc.errors():
        loc = err.get("loc") or ()
        name = str(loc[0]) if loc else None
        reason = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if name is not None and name in raw:
            src = raw[name]
            if name in _SECRET_FIELDS:
                shown = ""
            elif name == "url":
                shown = f" {_redact_userinfo(str(src.raw))!r}"
            else:
                shown = f" {str(src.raw)!r}"
            lines.append(
                f"{src.origin} {src.key}: invalid value{shown} ({reason}); expected {_EXPECTED[name]}"
            )
            first_source = first_source or src.origin
            first_key = first_key or src.key
        elif name is not None:
            lines.append(f"setting {name}: {reason}; expected {_EXPECTED.get(name, 'a valid value')}")
            first_key = first_key or name
        else:
            # Cross-field problem: name every contributing source we know about.
            related = ("backoff_initial", "backoff_max") if "backoff" in reason else ("password", "username")
            involved = ", ".join(str(raw[n]) for n in related if n in raw)
            lines.append(f"{reason}" + (f" [from {involved}]" if involved else ""))
    message = "Invalid Atlas configuration: " + "; ".join(lines)
    return ConfigError(message, source=first_source, key=first_key)


# --------------------------------------------------------------------------------------------------
# Java properties parsing (the subset of java.util.Properties.load that matters for settings files).

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_UNICODE_ESCAPE = re.compile(r"u([0-9a-fA-F]{4})")


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u":
            m = _UNICODE_ESCAPE.match(text, i + 1)
            if m:
                out.append(chr(int(m.group(1), 16)))
                i = m.end()
                continue
        out.append(_ESCAPES.get(nxt, nxt))
        i += 2
    return "".join(out)


def _ends_with_continuation(line: str) -> bool:
    backslashes = len(line) - len(line.rstrip("\\"))
    return backslashes % 2 == 1


def _split_key_value(line: str) -> tuple[str, str]:
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "=: \t\f":
            break
        i += 1
    key = line[:i]
    j = i
    while j < n and line[j] in " \t\f":
        j += 1
    if j < n and line[j] in "=:":
        j += 1
        while j < n and line[j] in " \t\f":
            j += 1
    return _unescape(key), _unescape(line[j:])


def parse_properties(text: str) -> list[tuple[int, str, str]]:
    """Parse properties text into (line number, key, value) triples, keeping duplicates in order."""
    entries: list[tuple[int, str, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i + 1
        line = lines[i].lstrip(" \t\f")
        i += 1
        if not line or line[0] in "#!":
            continue
        while _ends_with_continuation(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip(" \t\f")
            i += 1
        if _ends_with_continuation(line):
            line = line[:-1]
        key, value = _split_key_value(line)
        entries.append((start, key, value))
    return entries


def _read_properties(path: Path) -> dict[str, _Source]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read Atlas properties file {path}: {exc.strerror or exc}",
            source=str(path),
            hint="check the file's permissions",
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # what java.util.Properties.load(InputStream) assumes

    found: dict[str, _Source] = {}
    for lineno, key, value in parse_properties(text):
        name = _PROPERTY_KEYS.get(key)
        if name is None:
            if key.startswith(PROPERTIES_PREFIX) and key.count(".") == 1:
                log.warning("%s:%d: ignoring unknown setting %r", path, lineno, key)
            continue
        if name != "password":  # Java keeps trailing blanks; only a password could mean them
            value = value.strip()
        if value == "":
            found.pop(name, None)
            continue
        if name == "ca_bundle":
            bundle = Path(value).expanduser()
            value = str(bundle if bundle.is_absolute() else (path.parent / bundle))
        found[name] = _Source(f"{path}:{lineno}", key, value)
    return found
