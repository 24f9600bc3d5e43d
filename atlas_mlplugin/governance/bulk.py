"""Writing many entities to Atlas in bulk (`atlas-ml apply`, and a training run with its inputs): the entities
in order, `POST /v2/entity/bulk` in chunks (apply sends them in dependency order: licenses, consent records,
datasets, derivations, training runs).

A new entity takes its derived tags in its body (Atlas 2.1.0 applies classifications sent with an entity it
creates, and ignores them for one that exists); tags of an entity that existed are compared with what the
look-up read and changed only where they differ. Each request is sent holding its entities' write locks
(atlas/write_locks.py), and an entity another writer created between the look-up and the write gets its tags
set afterwards, as the single-entry registry path does.

A process with many inputs is written in parts. Measured on Atlas 2.1.0 (dev server, 2 shared cores): a run
reading 200 tagged datasets took 6.3 s in one POST, 400 took 32.6 s, 200 untagged ones 1.2 s. The cost is the
tags Atlas propagates inside the request from every new input edge to the run and its models, and each
propagated tag costs more the more tags its target already holds (adding the last 50 of 400 inputs took 16 s,
the first 50 took 1.4 s). So a request adds new input edges only while their estimated propagation work
(new tags times the tags the process then holds) stays within a budget; later parts resend the inputs linked
so far plus the next ones, which Atlas keeps as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from atlas_mlplugin.errors import NotRegisteredError
from atlas_mlplugin.mapping import entities as em
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.tags import Classification
from atlas_mlplugin.scrubbing import logger, scrub_name

log = logger(__name__)

Entity = dict[str, Any]
Key = tuple[str, str]  # (type name, qualifiedName)

# Entities per bulk POST, as ingest batches them.
ENTITIES_PER_REQUEST = 100
# New input edges per request of a process, and the estimated propagation work (tag pairs, see above) one
# request may carry: about 11 s at the 5.5e-4 s per pair measured on the dev server, well inside the
# client's 60 s read timeout, after which a write is never re-sent.
INPUTS_PER_REQUEST = 100
PROPAGATION_BUDGET = 20_000
# Any request that adds an input edge also costs about as much as propagating this many more tags, times the
# tags the process holds (dev server, process holding 375 tags: one more input with 1 tag took 1.2 s, ten
# inputs with 12 tags 2.0 s; resending the inputs with none new 0.08 s).
REQUEST_OVERHEAD_TAGS = 5


class BulkClient(Protocol):
    def upsert_entities(self, entities: list[Entity]) -> dict[str, Any]: ...
    def find_entities(self, type_name: str, qualified_names: list[str], /) -> dict[str, Entity]: ...
    def writing(self, qualified_names: list[str], /) -> Any: ...


class TagSyncer(Protocol):
    def sync_known_tags(self, guid: str, classifications: list[Classification], desired: list[Classification],
                        managed: frozenset[str], /) -> None: ...
    def sync_derived_tags(self, guid: str, desired: list[Classification], managed: frozenset[str], /) -> None: ...


@dataclass
class Write:
    """One entity to create or update, and the tags it must own afterwards."""

    entity: Entity  # the body, without classifications
    tags: list[Classification]  # its own tags of the `managed` types, as they must be
    managed: frozenset[str]
    existing: Entity | None  # as the look-up read it (guid, classifications); None: to be created
    before: list[Entity] = field(default_factory=list)  # written with it, ahead of it (a run's models)
    input_tags: dict[str, int] = field(default_factory=dict)  # a process's inputs: tags each brings (estimate)
    only_if_missing: bool = False  # a placeholder: dropped if the name exists by the time it is written
    requires: list[Key] = field(default_factory=list)  # must exist in Atlas when written (derivation inputs)
    after: Callable[[str], None] | None = None  # called with the guid once written

    @property
    def key(self) -> Key:
        return self.entity["typeName"], self.entity["attributes"][n.QUALIFIED_NAME]


def input_parts(inputs: list[str], linked: set[str], input_tags: dict[str, int], *,
                max_inputs: int = INPUTS_PER_REQUEST, budget: int = PROPAGATION_BUDGET) -> list[list[str]]:
    """The successive input lists a process is written with so that no request adds more than `max_inputs`
    new edges or more than `budget` of estimated propagation work; the last list is `inputs` itself.

    `linked`: inputs the process has in Atlas already (they cost nothing and come first); `input_tags`: the
    tags each input would propagate (missing: 1)."""
    kept = [qn for qn in inputs if qn in linked]
    new = [qn for qn in inputs if qn not in linked]
    held = sum(input_tags.get(qn, 1) for qn in kept)
    parts: list[list[str]] = []
    current = list(kept)
    added = 0
    work = REQUEST_OVERHEAD_TAGS * held
    for qn in new:
        tags = input_tags.get(qn, 1)
        cost = tags * (held + tags)
        if added and (added >= max_inputs or work + cost > budget):
            parts.append(list(current))
            added = 0
            work = REQUEST_OVERHEAD_TAGS * held
        current.append(qn)
        added += 1
        work += cost
        held += tags
    parts.append(list(inputs))  # the same set as `current`, in the caller's order
    return parts


@dataclass
class _Request:
    writes: list[Write] = field(default_factory=list)
    bodies: list[Entity] = field(default_factory=list)
    inputs: int = 0


def requests_for(writes: list[Write], *, per_request: int = ENTITIES_PER_REQUEST,
                 max_inputs: int = INPUTS_PER_REQUEST, budget: int = PROPAGATION_BUDGET
                 ) -> Iterator[_Request]:
    """Group `writes` (in order) into bulk requests of at most `per_request` entities and `max_inputs` new
    input edges; a process too big for one request is written in parts (input_parts), each its own request."""
    current = _Request()
    for write in writes:
        body = dict(write.entity)
        if write.existing is None and write.tags:
            body["classifications"] = write.tags
        inputs = [str(r["uniqueAttributes"][n.QUALIFIED_NAME]) for r in body["attributes"].get(n.INPUTS) or []]
        linked = _linked_inputs(write.existing)
        parts = input_parts(inputs, linked, write.input_tags, max_inputs=max_inputs, budget=budget) \
            if inputs else [[]]
        new_inputs = len(set(parts[0]) - linked)
        size = len(write.before) + 1
        if current.bodies and (len(current.bodies) + size > per_request or current.inputs + new_inputs > max_inputs
                               or len(parts) > 1):
            yield current
            current = _Request()
        refs = {r["uniqueAttributes"][n.QUALIFIED_NAME]: r for r in body["attributes"].get(n.INPUTS) or []}
        first = {**body, "attributes": {**body["attributes"], n.INPUTS: [refs[qn] for qn in parts[0]]}} \
            if inputs else body
        current.bodies += [*write.before, first]
        current.inputs += new_inputs
        rest = {k: v for k, v in body.items() if k != "classifications"}
        for part in parts[1:]:
            yield current
            current = _Request(bodies=[{**rest, "attributes": {**rest["attributes"],
                                                               n.INPUTS: [refs[qn] for qn in part]}}])
        # With the request of its last part: its tags and follow-up (blocking propagation at its input edges)
        # come once every input is linked.
        current.writes.append(write)
    if current.bodies:
        yield current


def _linked_inputs(existing: Entity | None) -> set[str]:
    if existing is None:
        return set()
    refs = (existing.get("relationshipAttributes") or {}).get(n.INPUTS) or (existing.get("attributes") or {}).get(
        n.INPUTS) or []
    return {str((r.get("uniqueAttributes") or {}).get(n.QUALIFIED_NAME)) for r in refs
            if isinstance(r, dict) and r.get("relationshipStatus", "ACTIVE") == "ACTIVE"
            and r.get("entityStatus", "ACTIVE") == "ACTIVE"}


class BulkWriter:
    """Sends planned writes in bulk requests and sets the tags the bodies could not carry."""

    def __init__(self, client: BulkClient, tags: TagSyncer, *, per_request: int = ENTITIES_PER_REQUEST,
                 max_inputs: int = INPUTS_PER_REQUEST, budget: int = PROPAGATION_BUDGET) -> None:
        self.client = client
        self.tags = tags
        self.per_request = per_request
        self.max_inputs = max_inputs
        self.budget = budget
        self.guids: dict[Key, str] = {}
        self.created: set[Key] = set()

    def write(self, writes: list[Write]) -> dict[Key, str]:
        """Write `writes` in order; returns the guid of every entity written, by (type, qualifiedName)."""
        for request in requests_for(writes, per_request=self.per_request, max_inputs=self.max_inputs,
                                    budget=self.budget):
            self._send(request)
        return self.guids

    def _send(self, request: _Request) -> None:
        names = [b["attributes"][n.QUALIFIED_NAME] for b in request.bodies]
        # Held from the placeholder check to the last tag: another writer must neither see a half-written
        # entity nor create one of these names between our check and our write.
        with self.client.writing(names):
            skip = self._existing_placeholders(request)
            self._check_required(request)
            bodies = [b for b in request.bodies if (b["typeName"], b["attributes"][n.QUALIFIED_NAME]) not in skip]
            if not bodies:
                return
            linked = em.link_within_batch(bodies)
            started = time.monotonic()
            response = self.client.upsert_entities(linked)
            log.debug("bulk upsert of %d entities (%d input edges) took %.1f s", len(linked),
                      sum(len(b["attributes"].get(n.INPUTS) or []) for b in linked), time.monotonic() - started)
            created = _mutated(response, "CREATE")
            self.created |= created.keys()
            assigned = response.get("guidAssignments") or {}
            for body in linked:
                key = (body["typeName"], body["attributes"][n.QUALIFIED_NAME])
                guid = (assigned.get(body["guid"]) or created.get(key) or _mutated(response, "UPDATE").get(key)
                        or self.guids.get(key))
                if guid is not None:
                    self.guids[key] = str(guid)
            for write in request.writes:
                if write.key in skip:
                    continue
                guid = self._guid(write)
                if write.existing is None:
                    if write.tags and (write.key[0], scrub_name(write.key[1])) not in self.created:
                        # Another writer created it after our look-up: the tags in our body were not applied.
                        self.tags.sync_derived_tags(guid, write.tags, write.managed)
                else:
                    self.tags.sync_known_tags(guid, write.existing.get("classifications") or [], write.tags,
                                              write.managed)
                if write.after is not None:
                    write.after(guid)

    def _guid(self, write: Write) -> str:
        guid = self.guids.get(write.key) or (write.existing or {}).get("guid")
        if guid is None:  # not reported as mutated (it did not change) and not read before: look it up
            found = self.client.find_entities(write.key[0], [write.key[1]]).get(write.key[1])
            if found is None:
                raise NotRegisteredError(f"Atlas did not keep {write.key[0]} {write.key[1]!r} after writing it; "
                                         "check the Atlas server log and apply again")
            guid = found["guid"]
        self.guids[write.key] = str(guid)
        return str(guid)

    def _existing_placeholders(self, request: _Request) -> set[Key]:
        """Placeholders whose names exist by now (another writer registered the dataset): not overwritten."""
        placeholders = [w.key for w in request.writes if w.only_if_missing]
        by_type: dict[str, list[str]] = {}
        for type_name, qn in placeholders:
            by_type.setdefault(type_name, []).append(qn)
        return {(t, qn) for t, qns in by_type.items() for qn in self.client.find_entities(t, qns)}

    def _check_required(self, request: _Request) -> None:
        wanted: dict[str, set[str]] = {}
        for write in request.writes:
            for type_name, qn in write.requires:
                if (type_name, qn) not in self.guids:
                    wanted.setdefault(type_name, set()).add(qn)
        for type_name, qns in sorted(wanted.items()):
            missing = sorted(qns - self.client.find_entities(type_name, sorted(qns)).keys())
            if missing:
                raise NotRegisteredError(f"no {type_name} with qualifiedName {missing[0]!r} in Atlas"
                                         f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; "
                                         "register it first, or declare it in the catalog")


@contextmanager
def count_writes(session: requests.Session) -> Iterator[list[int]]:
    """Count the write requests (anything but GET) the session sends inside the block."""
    counter = [0]

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if response.request.method != "GET":
            counter[0] += 1
        return response

    hooks = session.hooks.setdefault("response", [])
    hooks.append(hook)
    try:
        yield counter
    finally:
        hooks.remove(hook)


def _mutated(response: dict[str, Any], operation: str) -> dict[Key, str]:
    return {(str(h.get("typeName")), str((h.get("attributes") or {}).get(n.QUALIFIED_NAME))): str(h["guid"])
            for h in (response.get("mutatedEntities") or {}).get(operation) or []}
