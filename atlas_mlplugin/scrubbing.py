"""Credentials out of every string that leaves the process: entity attributes, tags, names, log records, spool
and rejected files. The same rules as the Spark listener's Scrubber (spark_listener/.../Scrubber.java); the
shared vectors in tests/vectors/scrubbing.json hold both to them (and dataset names must not depend on which
side scrubbed them).

- `scrub_uri`: a URI or JDBC URL without userinfo (user:password@), Oracle's user/password@ and credential
  parameters (password=, user=, SAS and AWS signature parameters, Azure AccountKey= ...), which are removed,
  not masked, so the same table read with or without a password in its URL has one name.
- `scrub_text`: free text (an error message, a job name, a description): URIs scrubbed as above, and
  `password=...`-style assignments, `Authorization: Bearer ...` headers, bare `user/password@host`, AWS key
  ids, JWTs, private keys and well-known token formats masked as ***.
- `scrub_name`: a dataset, job or process name, as free text but keeping a password-less userinfo.
- `scrub_value`: `scrub_name` over the strings of a JSON-like value (an entity, a spool op, an event).
- `ScrubbingFilter`: a logging filter that scrubs each record's message and arguments.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"

_SECRET_PARAM_EXACT = ("user|username|uid|pwd|passwd|sig|signature|se|sp|sv|sr|ss|srt|st|spr|skoid|sktid|skt|ske|"
                       "sks|skv|sas|auth|authorization|x-amz-credential|x-amz-signature|x-amz-security-token")
# Any parameter or key whose name contains one of these words holds a secret.
_SECRET_WORDS = ("password|passwd|passphrase|pwd|secret|token|credential|access[._-]?key|secret[._-]?key|"
                 "api[._-]?key|account[._-]?key|shared[._-]?access[._-]?(?:key|signature)|private[._-]?key|"
                 "client[._-]?secret|session[._-]?key|keyfile")
# The name part of a parameter or an assignment, as an atomic group: what follows it (\s*[=:]) is never in
# [\w.-], so it always ends where the run of name characters ends, whichever secret word it found; atomic, it
# is not tried again from each earlier secret word, which made a 4 KB "password.password...." take seconds.
_SECRET_KEY_RUN = rf"(?>[\w.-]*(?:{_SECRET_WORDS})[\w.-]*+)"
# A whole ;name=value, ?name=value or &name=value parameter.
_SECRET_PARAM = re.compile(rf"([;?&])\s*(?:(?:{_SECRET_PARAM_EXACT})|{_SECRET_KEY_RUN})\s*=[^;&\s]*",
                           re.IGNORECASE | re.ASCII)
# scheme://userinfo@: the userinfo goes, the scheme and host stay.
# (A password may hold "#" or "@", which a careless URL leaves unencoded: up to the last "@" of the authority.)
# (The scheme's parts are possessive and bounded, so that "a:a:a:..." or "a.a.a...." costs linear time: a
# scheme has a few short parts, "jdbc:mysql:loadbalance://"; a longer run is matched from a later boundary.)
_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]{0,63}+:(?:[a-z0-9+.-]{1,63}+:){0,7}+//)([^/\s?#;@:]*(?::[^/\s?;]*)?)@",
                       re.IGNORECASE | re.ASCII)
# Oracle thin: jdbc:oracle:thin:user/pass@host
_ORACLE_CREDS = re.compile(r"((?:jdbc:)?oracle:[a-z0-9]+:)[^@/\s]+/[^@\s]*@", re.IGNORECASE | re.ASCII)
# A "?" left without parameters: "x?" before the end, a space, a quote, a bracket or a fragment.
_EMPTY_QUERY = re.compile(r"\?&*(?=[\s#\"'()\[\]{}<>,]|$)")
# Schemes whose authority legitimately has a "user" part that is not a credential (Azure containers).
_CONTAINER_SCHEMES = re.compile(r"(wasbs?|abfss?)://", re.IGNORECASE)

# --- free text ----------------------------------------------------------------------------------------
# Where an assignment can start: at the first word character of a run of [\w.-] characters followed by "="
# or ":" (the run's leading "." and "-" kept in `lead`). Starting only there gives the matches a plain
# \b([\w.-]*...) would, in linear time: trying every boundary of a long dotted name took seconds.
_ASSIGNMENT_START = r"(?<![\w.-])(?P<lead>[.-]*+)(?=[\w.-]*+\s*[=:])\b"
# "password=...", "token: ...", "AccountKey=..." in free text.
_SECRET_ASSIGNMENT = re.compile(
    rf"{_ASSIGNMENT_START}(?P<key>{_SECRET_KEY_RUN})(?P<sep>\s*[=:]\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&)}}\]]+)",
    re.IGNORECASE | re.ASCII)
# The same in a name, where a value ends at a path separator ("/data/token=abc/part-0").
_SECRET_ASSIGNMENT_IN_NAME = re.compile(
    rf"{_ASSIGNMENT_START}(?P<key>{_SECRET_KEY_RUN})(?P<sep>\s*[=:]\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&)}}\]/]+)",
    re.IGNORECASE | re.ASCII)
# "Authorization: Bearer abc", "X-Api-Key: abc" (the scheme stays, the credential goes).
_AUTH_HEADER = re.compile(
    r"\b((?:proxy-)?authorization|x-api-key|api-key|x-auth-token)(\s*[:=]\s*)"
    r"(?:(bearer|basic|digest|negotiate|token)\s+)?(\"[^\"]*\"|'[^']*'|[^\s,;\"']+)", re.IGNORECASE | re.ASCII)
# "Bearer abc..." without a header name.
_BEARER = re.compile(r"\b(bearer|basic|negotiate)\s+[A-Za-z0-9._~+/-]{12,}=*", re.IGNORECASE | re.ASCII)
# Oracle's user/password@host without the JDBC prefix (sqlplus, connect strings).
# (Not before a digest: "repo/image@sha256:..." names an image, not a login.)
_ORACLE_BARE = re.compile(r"(?<![\w/:.@-])([A-Za-z][\w$#]{0,29})/([^\s/@'\"]{1,128})@"
                          r"(?!(?:sha\d*|md5):)(?=[A-Za-z0-9][\w.-]*(?::\d+)?(?:[/:;,)\"'\s]|$))", re.ASCII)
_TOKEN_SHAPES = re.compile(
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"  # JWTs
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"  # GitHub tokens
    r"|\bglpat-[A-Za-z0-9_-]{20,}|\bxox[abprs]-[A-Za-z0-9-]{10,}"  # GitLab, Slack tokens
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",  # private keys
    re.ASCII | re.DOTALL)


def _scrub_userinfo(text: str, *, keep_user: bool = False) -> str:
    def replace(match: re.Match[str]) -> str:
        scheme, userinfo = match.group(1), match.group(2)
        plain_user = ":" not in userinfo
        container = _CONTAINER_SCHEMES.match(scheme) is not None and plain_user
        return match.group(0) if container or (keep_user and plain_user) else scheme

    return _USERINFO.sub(replace, text)


def _drop_secret_params(text: str) -> str:
    """Credential parameters removed with their separator ("?" stays for the parameters after it), and a
    "?" left with nothing after it removed too: "app?user=a&password=b x" -> "app x"."""
    dropped = _SECRET_PARAM.sub(lambda m: "?" if m.group(1) == "?" else "", text)
    if dropped == text:  # nothing removed: a "?" of the text's own ("why??") is not ours to tidy
        return text
    return _EMPTY_QUERY.sub("", dropped.replace("?&", "?").replace("?;", "?"))


def _strip_credentials(text: str, *, keep_user: bool) -> str:
    text = _ORACLE_CREDS.sub(r"\1@", text)
    return _drop_secret_params(_scrub_userinfo(text, keep_user=keep_user))


def scrub_uri(uri: str, *, keep_user: bool = False) -> str:
    """A URI or JDBC URL without userinfo and credential parameters. With `keep_user`, a userinfo without a
    password stays (for names such as Atlas's `hive://db.table@cluster`, where it is part of the name)."""
    text = _strip_credentials(uri, keep_user=keep_user)
    # tidy the separators left behind: "?&a=1" -> "?a=1", "x?" -> "x", ";;" -> ";"
    text = re.sub(r"([?&;])[&;]+", r"\1", text)
    text = re.sub(r"[?&;]+$", "", text)
    return text.replace("?;", "?")


def _scrub(text: str, *, keep_user: bool, assignment: re.Pattern[str]) -> str:
    scrubbed = _strip_credentials(text, keep_user=keep_user)
    scrubbed = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) + ' ' if m.group(3) else ''}{MASK}",
                                scrubbed)
    scrubbed = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", scrubbed)
    scrubbed = assignment.sub(lambda m: m.group(0) if m["value"] == MASK else m["lead"] + m["key"] + m["sep"] + MASK,
                              scrubbed)
    scrubbed = _ORACLE_BARE.sub(rf"\1/{MASK}@", scrubbed)
    return _TOKEN_SHAPES.sub(MASK, scrubbed)


def scrub_text(text: str) -> str:
    """Free text (an error message, a description, a log record): URIs scrubbed, secrets masked."""
    return _scrub(text, keep_user=False, assignment=_SECRET_ASSIGNMENT)


def scrub_name(name: str) -> str:
    """A dataset, job or process name: as free text, except that a userinfo without a password stays (it is
    part of names such as `hive://db.table@cluster`) and a secret assignment's value ends at a "/"."""
    return _scrub(name, keep_user=True, assignment=_SECRET_ASSIGNMENT_IN_NAME)


def scrub_value(value: Any, *, keep: frozenset[str] = frozenset()) -> Any:
    """Every string in a JSON-like value (an entity, a spool op, an event) scrubbed as a name, since any of
    them may be one and a name must not change with where it was scrubbed; the values of keys in `keep`
    are left untouched."""
    if isinstance(value, str):
        return scrub_name(value)
    if isinstance(value, dict):
        return {k: (v if k in keep else scrub_value(v, keep=keep)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_value(v, keep=keep) for v in value]
    return value


class ScrubbingFilter(logging.Filter):
    """Scrubs a log record's message and arguments before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "_atlas_ml_scrubbed", False):
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a record that cannot be formatted is left to the handler
                return True
            record.msg, record.args = scrub_text(message), None
            if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
                record.exc_text = scrub_text(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
            record._atlas_ml_scrubbed = True  # type: ignore[attr-defined]
        return True


def logger(name: str) -> logging.Logger:
    """A module's logger whose records are scrubbed (each module of the package gets its logger here)."""
    log = logging.getLogger(name)
    if not any(isinstance(f, ScrubbingFilter) for f in log.filters):
        log.addFilter(ScrubbingFilter())
    return log
