"""Our facade over the Atlas v2 REST API: plain dicts in, plain dicts out, typed errors.

The apache-atlas SDK wraps payloads in its own model classes and raises one untyped
``AtlasServiceException`` for everything, which makes it awkward for code that needs to branch on
"not found" versus "rejected" versus "server down". This facade talks JSON directly, maps every
failure to ``atlas_mlplugin.atlas.errors``, and still exposes the SDK (``client.sdk``) sharing the same
session for the many endpoints we do not wrap.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import requests

from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.atlas.errors import (
    AtlasNotFoundError,
    AtlasResponseError,
    AtlasUnavailableError,
    PendingTasksTimeoutError,
    error_from_response,
    excerpt,
)
from atlas_mlplugin.atlas.session import AtlasSession, attempts_of, build_session
from atlas_mlplugin.atlas.write_locks import WriteLocks
from atlas_mlplugin.limits import MAX_NAME_URL_BYTES, url_bytes
from atlas_mlplugin.scrubbing import logger, scrub_name, scrub_value

if TYPE_CHECKING:
    from os import PathLike

    from apache_atlas.client.base_client import AtlasClient as SdkAtlasClient

log = logger(__name__)

API_BASE = "/api/atlas"
# /admin/tasks (deferred classification propagation) first shipped in Atlas 2.2.0. On 2.1.0 the
# path does not exist and Atlas answers a generic HTTP 500 text/plain, indistinguishable from a real
# failure, so the version decides instead of the error.
TASKS_MIN_VERSION = (2, 2)
_PENDING_TASK_STATUSES = frozenset({"PENDING", "IN_PROGRESS"})

LineageDirection = Literal["INPUT", "OUTPUT", "BOTH"]
_UNSCRUBBED_PATHS = ("/v2/types/",)
_QUALIFIED_NAME = "qualifiedName"


def _seg(value: str) -> str:
    """Quote one path segment so guids/type names can never change the path's shape."""
    return quote(str(value), safe="")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """'2.1.0' -> (2, 1, 0); '3.0.0-SNAPSHOT' -> (3, 0, 0); garbage -> None."""
    if not text:
        return None
    m = re.match(r"\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if not m:
        return None
    return tuple(int(g) for g in m.groups() if g is not None)


def lookup_chunks(names: list[str], budget: int = MAX_NAME_URL_BYTES) -> list[list[str]]:
    """`names` split, in order, into groups whose bulk look-up query (`attr_<i>:qualifiedName=<name>&`
    per name, percent-encoded) takes at most `budget` bytes; a name longer than that alone goes alone
    (check_name keeps every name within it)."""
    chunks: list[list[str]] = []
    size = budget + 1
    for name in names:
        cost = url_bytes(f"attr_{len(chunks[-1]) if chunks else 0}:{_QUALIFIED_NAME}") + url_bytes(name) + 2
        if not chunks or size + cost > budget:
            chunks.append([])
            size = 0
            cost = url_bytes(f"attr_0:{_QUALIFIED_NAME}") + url_bytes(name) + 2
        chunks[-1].append(name)
        size += cost
    return chunks


class AtlasClient:
    """Facade over one Atlas server; cheap to keep around, it holds one pooled HTTP session."""

    def __init__(self, settings: AtlasSettings, *, session: requests.Session | None = None) -> None:
        self._settings = settings
        self._session = session if session is not None else build_session(settings)
        self._base = settings.url + API_BASE
        self._sdk: SdkAtlasClient | None = None
        self._version_info: dict[str, Any] | None = None
        self._write_locks: WriteLocks | None = None

    @classmethod
    def from_env(cls, properties_file: str | PathLike[str] | None = None) -> AtlasClient:
        """Configure from ``$ATLAS_ML_CONFIG``/``properties_file`` and ``ATLAS_*`` variables."""
        return cls(AtlasSettings.load(properties_file))

    def __repr__(self) -> str:
        return f"AtlasClient(url={self._settings.url!r}, auth={self._settings.auth_mode})"

    def __enter__(self) -> AtlasClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    @property
    def settings(self) -> AtlasSettings:
        return self._settings

    @property
    def session(self) -> requests.Session:
        return self._session

    @property
    def base_url(self) -> str:
        return self._base

    @property
    def sdk(self) -> SdkAtlasClient:
        """The apache-atlas SDK client, rewired onto our session so it gains timeouts and retries.

        The SDK builds its own bare ``requests.Session``; we replace it. Its host gets a trailing slash
        because the SDK joins paths with ``urljoin``, which would otherwise drop the last segment of a
        URL such as ``https://gateway/atlas``. SDK calls keep raising the SDK's own
        ``AtlasServiceException`` for HTTP errors, but connection failures surface as our
        ``AtlasUnavailableError`` after retrying.
        """
        if self._sdk is None:
            from apache_atlas.client.base_client import AtlasClient as SdkAtlasClient

            sdk = SdkAtlasClient(self._settings.url, self._session.auth)
            sdk.session.close()
            sdk.session = self._session
            sdk.host = self._settings.url + "/"
            self._sdk = sdk
        return self._sdk

    # -- transport -------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        max_attempts: int | None = None,
    ) -> Any:
        """Call ``{url}/api/atlas{path}``; the escape hatch for endpoints without a method here.

        Returns parsed JSON, or None for 204/empty bodies. ``max_attempts`` overrides the retry budget
        for this call only (1 = no retries), which readiness probes want.
        """
        if not path.startswith("/"):
            path = "/" + path
        full_path = API_BASE + path
        method = method.upper()
        kwargs: dict[str, Any] = {"params": params, "headers": {"Accept": "application/json"}}
        if json is not None:
            # Nothing we write carries a credential (typedefs are ours and stay byte for byte).
            kwargs["json"] = json if path.startswith(_UNSCRUBBED_PATHS) else scrub_value(json)
        if max_attempts is not None and isinstance(self._session, AtlasSession):
            kwargs["max_attempts"] = max_attempts
        try:
            response = self._session.request(method, self._base + path, **kwargs)
        except AtlasUnavailableError:
            raise
        except requests.RequestException as exc:
            # Only reachable with a caller-supplied plain Session; keep the typed-error promise anyway.
            raise AtlasUnavailableError(
                f"Atlas at {self._settings.url} did not answer {method} {full_path}: "
                f"{type(exc).__name__}: {exc}",
                method=method,
                url=full_path,
            ) from exc

        if not 200 <= response.status_code < 300:
            raise error_from_response(response, method=method, path=full_path, attempts=attempts_of(response))
        if response.status_code == 204 or not response.content or not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise AtlasResponseError(
                f"{method} {full_path} -> HTTP {response.status_code} but the body is not JSON "
                f"(Content-Type: {response.headers.get('Content-Type', '?')}): {excerpt(response.text, 200)}",
                method=method,
                url=full_path,
                status=response.status_code,
                body=excerpt(response.text),
            ) from None

    # -- admin -----------------------------------------------------------------------------------

    def status(self, *, max_attempts: int | None = None) -> str:
        """Atlas' own readiness ('ACTIVE', 'PASSIVE', 'BECOMING_ACTIVE', ...).

        Atlas serves this without authentication, so it tells "server up" apart from "credentials
        wrong"; the configured credentials are still sent because proxies in front of Atlas may want them.
        """
        data = self.request("GET", "/admin/status", max_attempts=max_attempts)
        if not isinstance(data, dict) or "Status" not in data:
            raise AtlasResponseError(
                f"GET {API_BASE}/admin/status returned no 'Status' field: {excerpt(str(data), 200)}",
                method="GET",
                url=API_BASE + "/admin/status",
            )
        return str(data["Status"])

    def version(self) -> dict[str, Any]:
        """Build info ({'Version': '2.1.0', 'Revision': ..., 'Name': ..., 'Description': ...})."""
        data = self.request("GET", "/admin/version")
        if not isinstance(data, dict):
            raise AtlasResponseError(
                f"GET {API_BASE}/admin/version did not return an object",
                method="GET",
                url=API_BASE + "/admin/version",
            )
        self._version_info = data
        return data

    def server_version(self) -> tuple[int, ...] | None:
        """Parsed server version, fetched once per client since it cannot change under a live session."""
        if self._version_info is None:
            self.version()
        assert self._version_info is not None
        return parse_version(str(self._version_info.get("Version", "")))

    def pending_tasks(self) -> list[dict[str, Any]]:
        """Deferred classification-propagation tasks not yet finished (PENDING or IN_PROGRESS).

        Atlas >= 2.2 may propagate classifications asynchronously, so lineage reads right after a write
        can be stale until these drain. Atlas < 2.2 propagates synchronously and has no such endpoint,
        so there is nothing to wait for and [] is correct. Other errors are not swallowed.
        """
        version = self.server_version()
        if version is not None and version < TASKS_MIN_VERSION:
            return []
        data = self.request("GET", "/admin/tasks")
        if data is None:
            return []
        if not isinstance(data, list):
            raise AtlasResponseError(
                f"GET {API_BASE}/admin/tasks did not return a list: {excerpt(str(data), 200)}",
                method="GET",
                url=API_BASE + "/admin/tasks",
            )
        # Apache Atlas deletes completed tasks but keeps FAILED ones; those will never drain.
        return [
            t
            for t in data
            if isinstance(t, dict) and str(t.get("status", "PENDING")).upper() in _PENDING_TASK_STATUSES
        ]

    def wait_for_pending_tasks(self, timeout: float = 120.0, poll: float = 0.5) -> None:
        """Block until deferred propagation has drained, so callers read settled classifications."""
        deadline = time.monotonic() + timeout
        while True:
            tasks = self.pending_tasks()
            if not tasks:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                kinds = sorted({str(t.get("type", "?")) for t in tasks})
                raise PendingTasksTimeoutError(
                    f"{len(tasks)} Atlas task(s) still pending after {timeout:g}s "
                    f"(types: {', '.join(kinds)})",
                    pending=len(tasks),
                    timeout=timeout,
                )
            log.debug("waiting for %d pending Atlas task(s)", len(tasks))
            time.sleep(min(poll, remaining))

    # -- type system -----------------------------------------------------------------------------

    def get_typedefs(self) -> dict[str, Any]:
        return self.request("GET", "/v2/types/typedefs")

    def create_typedefs(self, defs: Mapping[str, Any]) -> dict[str, Any]:
        """Create types; Atlas rejects the whole batch (409) if any of them already exists."""
        return self.request("POST", "/v2/types/typedefs", json=dict(defs))

    def update_typedefs(self, defs: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("PUT", "/v2/types/typedefs", json=dict(defs))

    # -- entities --------------------------------------------------------------------------------

    @property
    def write_locks(self) -> WriteLocks:
        """The per-qualifiedName write locks of this server (write_locks.py), shared by every client of
        this host writing to it."""
        if self._write_locks is None:
            self._write_locks = WriteLocks.for_server(self._settings.url)
        return self._write_locks

    def writing(self, qualified_names: Iterable[str]) -> contextlib.AbstractContextManager[None]:
        """Hold these names against concurrent writers (of this host) for a look-up-then-write."""
        return self.write_locks.hold(scrub_name(q) for q in qualified_names)

    def upsert_entities(
        self, entities: list[dict[str, Any]], referred_entities: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Create-or-update by unique attributes (qualifiedName), so repeating a call is harmless; the
        batch's names are held meanwhile, so two writers cannot both create one of them."""
        body = {"entities": list(entities), "referredEntities": dict(referred_entities or {})}
        names = [str(e["attributes"][_QUALIFIED_NAME]) for e in entities
                 if isinstance(e.get("attributes"), dict) and e["attributes"].get(_QUALIFIED_NAME)]
        with self.writing(names):
            return self.request("POST", "/v2/entity/bulk", json=body)

    def get_entity(
        self, guid: str, *, min_ext_info: bool = False, ignore_relationships: bool = False
    ) -> dict[str, Any]:
        params = {"minExtInfo": _bool(min_ext_info), "ignoreRelationships": _bool(ignore_relationships)}
        return self.request("GET", f"/v2/entity/guid/{_seg(guid)}", params=params)

    def get_entities(
        self, guids: Iterable[str], *, min_ext_info: bool = False, ignore_relationships: bool = False
    ) -> dict[str, Any]:
        guid_list = list(guids)
        if not guid_list:
            # Atlas rejects a bulk GET without guids; an empty question has an empty answer.
            return {"entities": [], "referredEntities": {}}
        params: dict[str, Any] = {
            "guid": guid_list,
            "minExtInfo": _bool(min_ext_info),
            "ignoreRelationships": _bool(ignore_relationships),
        }
        return self.request("GET", "/v2/entity/bulk", params=params)

    def find_entity(
        self,
        type_name: str,
        qualified_name: str,
        *,
        min_ext_info: bool = False,
        ignore_relationships: bool = False,
    ) -> dict[str, Any] | None:
        """Look an entity up by qualifiedName; None when it does not exist.

        Only 404 means "no such entity". An unknown *type* is a 400 (ATLAS-400-00-014) and is raised,
        because it means the typedefs are missing rather than the entity.
        """
        params = {
            "attr:qualifiedName": scrub_name(qualified_name),  # as it was written
            "minExtInfo": _bool(min_ext_info),
            "ignoreRelationships": _bool(ignore_relationships),
        }
        try:
            return self.request("GET", f"/v2/entity/uniqueAttribute/type/{_seg(type_name)}", params=params)
        except AtlasNotFoundError:
            return None

    def find_entities(
        self,
        type_name: str,
        qualified_names: Iterable[str],
        *,
        min_ext_info: bool = True,
        ignore_relationships: bool = True,
    ) -> dict[str, dict[str, Any]]:
        """Many entities of one type by qualifiedName, in as few requests as the URL allows (Atlas's bulk
        GET by unique attributes); returns the entities found (ACTIVE ones: Atlas leaves deleted and missing
        names out alike) keyed by the name as given.

        One name per request was most of the cost of ingest and apply (a request each, 10-20 ms apiece);
        the names go into the query string, so they are split into requests of at most
        MAX_NAME_URL_BYTES of query (limits.py: Atlas 2.1.0's Jetty refuses URLs past about 16 KB). An
        unknown type is raised (HTTP 400), as in find_entity."""
        wanted: dict[str, list[str]] = {}
        for name in qualified_names:
            wanted.setdefault(scrub_name(name), []).append(name)  # stored scrubbed; answer by the given name
        found: dict[str, dict[str, Any]] = {}
        for chunk in lookup_chunks(list(wanted)):
            params: list[tuple[str, str]] = [(f"attr_{i}:{_QUALIFIED_NAME}", name) for i, name in enumerate(chunk)]
            params += [("minExtInfo", _bool(min_ext_info)), ("ignoreRelationships", _bool(ignore_relationships))]
            data = self.request("GET", f"/v2/entity/bulk/uniqueAttribute/type/{_seg(type_name)}", params=params)
            for entity in (data or {}).get("entities") or []:
                stored = str((entity.get("attributes") or {}).get(_QUALIFIED_NAME))
                for given in wanted.get(stored, []):
                    found[given] = entity
        return found

    def delete_entity(self, guid: str) -> dict[str, Any]:
        """Soft-delete by default on Atlas (status becomes DELETED); returns the mutation response."""
        return self.request("DELETE", f"/v2/entity/guid/{_seg(guid)}")

    # -- classifications -------------------------------------------------------------------------

    def get_classifications(self, guid: str) -> list[dict[str, Any]]:
        """Classifications on the entity, including ones propagated to it from upstream."""
        data = self.request("GET", f"/v2/entity/guid/{_seg(guid)}/classifications")
        if isinstance(data, dict):  # Atlas wraps lists in a PList: {"list": [...], "totalCount": ...}
            return list(data.get("list") or [])
        return list(data or [])

    def add_classifications(self, guid: str, classifications: list[dict[str, Any]]) -> None:
        self.request("POST", f"/v2/entity/guid/{_seg(guid)}/classifications", json=list(classifications))

    def update_classifications(self, guid: str, classifications: list[dict[str, Any]]) -> None:
        self.request("PUT", f"/v2/entity/guid/{_seg(guid)}/classifications", json=list(classifications))

    def delete_classification(self, guid: str, name: str) -> None:
        self.request("DELETE", f"/v2/entity/guid/{_seg(guid)}/classification/{_seg(name)}")

    # -- relationships & lineage -----------------------------------------------------------------

    def get_relationship(self, guid: str) -> dict[str, Any]:
        """Returns Atlas' {'relationship': {...}, 'referredEntities': {...}} wrapper unchanged."""
        return self.request("GET", f"/v2/relationship/guid/{_seg(guid)}")

    def update_relationship(self, relationship: Mapping[str, Any]) -> dict[str, Any]:
        """Needed to flip propagateTags / blockedPropagatedClassifications on a lineage edge."""
        return self.request("PUT", "/v2/relationship", json=dict(relationship))

    def lineage(self, guid: str, direction: LineageDirection = "BOTH", depth: int = 3) -> dict[str, Any]:
        direction_u = direction.upper()
        if direction_u not in ("INPUT", "OUTPUT", "BOTH"):
            raise ValueError(f"direction must be INPUT, OUTPUT or BOTH, not {direction!r}")
        params = {"direction": direction_u, "depth": int(depth)}
        return self.request("GET", f"/v2/lineage/{_seg(guid)}", params=params)

    # -- search ----------------------------------------------------------------------------------

    def search_basic(
        self,
        type_name: str,
        *,
        classification: str | None = None,
        limit: int = 100,
        offset: int = 0,
        attributes: list[str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"typeName": type_name, "limit": int(limit), "offset": int(offset)}
        if classification is not None:
            body["classification"] = classification
        if attributes is not None:
            body["attributes"] = list(attributes)
        return self.request("POST", "/v2/search/basic", json=body)
