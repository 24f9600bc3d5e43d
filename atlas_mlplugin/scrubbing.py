"""Credentials out of text before it is stored anywhere. The same rules as the Spark listener's Scrubber
(spark_listener/.../Scrubber.java): dataset names must not depend on which side scrubbed them, and the shared
naming vectors (tests/vectors/dataset_naming.json) hold both to it.

- `scrub_uri`: a URI or JDBC URL without userinfo (user:password@), Oracle's user/password@ and credential
  parameters (password=, user=, SAS and AWS signature parameters ...), which are removed, not masked, so the
  same table read with or without a password in its URL has one name.
- `scrub_text`: free text (an error message) with URIs scrubbed and `password=...`-style values masked.
"""

from __future__ import annotations

import re

MASK = "***"

_SECRET_PARAM_EXACT = ("user|username|uid|pwd|passwd|sig|signature|se|sp|sv|sr|ss|srt|st|spr|skoid|sktid|skt|ske|"
                       "sks|skv|sas|auth|authorization|x-amz-credential|x-amz-signature|x-amz-security-token")
_SECRET_PARAM_WORDS = ("password|passwd|secret|token|credential|access_?key|secret_?key|accesskey|secretkey|"
                       "api_?key|apikey")
# A whole ;name=value, ?name=value or &name=value parameter.
_SECRET_PARAM = re.compile(rf"([;?&])\s*(?:(?:{_SECRET_PARAM_EXACT})|[\w.-]*(?:{_SECRET_PARAM_WORDS})[\w.-]*)"
                           r"\s*=[^;&#\s]*", re.IGNORECASE | re.ASCII)
# scheme://userinfo@: the userinfo goes, the scheme and host stay.
_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*:(?:[a-z0-9+.-]+:)*//)([^/\s?#;]+)@", re.IGNORECASE | re.ASCII)
# Oracle thin: jdbc:oracle:thin:user/pass@host
_ORACLE_CREDS = re.compile(r"(jdbc:oracle:[a-z0-9]+:)[^@/\s]+/[^@\s]*@", re.IGNORECASE | re.ASCII)
# "password=...", "token: ..." in free text.
_SECRET_ASSIGNMENT = re.compile(
    r"\b([\w.-]*(?:password|passwd|pwd|secret|token|credential|access[._-]?key|secret[._-]?key|api[._-]?key)"
    r"[\w.-]*)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&)}\]]+)", re.IGNORECASE | re.ASCII)
# Schemes whose authority legitimately has a "user" part that is not a credential (Azure containers).
_CONTAINER_SCHEMES = re.compile(r"(wasbs?|abfss?)://", re.IGNORECASE)


def _scrub_userinfo(text: str, *, keep_user: bool = False) -> str:
    def replace(match: re.Match[str]) -> str:
        scheme, userinfo = match.group(1), match.group(2)
        plain_user = ":" not in userinfo
        container = _CONTAINER_SCHEMES.match(scheme) is not None and plain_user
        return match.group(0) if container or (keep_user and plain_user) else scheme

    return _USERINFO.sub(replace, text)


def scrub_uri(uri: str, *, keep_user: bool = False) -> str:
    """A URI or JDBC URL without userinfo and credential parameters. With `keep_user`, a userinfo without a
    password stays (for names such as Atlas's `hive://db.table@cluster`, where it is part of the name)."""
    text = _ORACLE_CREDS.sub(r"\1@", uri)
    text = _scrub_userinfo(text, keep_user=keep_user)
    text = _SECRET_PARAM.sub(r"\1", text)
    # tidy the separators left behind: "?&a=1" -> "?a=1", "x?" -> "x", ";;" -> ";"
    text = re.sub(r"([?&;])[&;]+", r"\1", text)
    text = re.sub(r"[?&;]+$", "", text)
    return text.replace("?;", "?")


def scrub_text(text: str) -> str:
    """Free text (an error message): URIs scrubbed, secret assignments masked."""
    scrubbed = _ORACLE_CREDS.sub(r"\1@", text)
    scrubbed = _scrub_userinfo(scrubbed)
    scrubbed = _SECRET_PARAM.sub(r"\1", scrubbed)
    return _SECRET_ASSIGNMENT.sub(rf"\1\2{MASK}", scrubbed)
