"""Our Atlas type definitions: load them from typedefs/, validate them offline, apply them idempotently.

Apply compares each definition's `typeVersion` with the server's copy: missing types are created, types
whose version differs are updated, the rest are left alone. So every change to a definition must bump its
typeVersion; `check` cannot see the server and does not enforce that, but `apply --dry-run` shows the plan.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from atlas_mlplugin.errors import AtlasMlError

CATEGORIES = ("enumDefs", "structDefs", "classificationDefs", "entityDefs", "relationshipDefs",
              "businessMetadataDefs")
CATEGORY_LABEL = {
    "enumDefs": "enum", "structDefs": "struct", "classificationDefs": "classification",
    "entityDefs": "entity", "relationshipDefs": "relationship", "businessMetadataDefs": "business metadata",
}
PRIMITIVES = {"boolean", "byte", "short", "int", "long", "float", "double", "biginteger", "bigdecimal",
              "string", "date", "object"}
CARDINALITIES = {"SINGLE", "LIST", "SET"}
RELATIONSHIP_CATEGORIES = {"ASSOCIATION", "AGGREGATION", "COMPOSITION"}
PROPAGATE_TAGS = {"NONE", "ONE_TO_TWO", "TWO_TO_ONE", "BOTH"}
VERSION_RE = re.compile(r"^\d+(\.\d+)*$")
BASE_DIR_NAME = "00-base"


TYPEDEFS_LOCK_NAME = "atlas-mlplugin:typedefs"
HTTP_CONFLICT = 409


class TypedefServer(Protocol):
    """The three calls apply needs (AtlasClient provides them)."""

    def get_typedefs(self) -> dict[str, Any]: ...
    def create_typedefs(self, defs: dict[str, Any]) -> dict[str, Any]: ...
    def update_typedefs(self, defs: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class TypedefIssue:
    """One problem in a typedef file, located as precisely as we can."""

    file: str
    message: str
    type_name: str | None = None
    attribute: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        if self.type_name:
            where += f": type '{self.type_name}'"
        if self.attribute:
            where += f", attribute '{self.attribute}'"
        return f"{where}: {self.message}"


class TypedefValidationError(AtlasMlError):
    def __init__(self, issues: list[TypedefIssue]) -> None:
        self.issues = issues
        super().__init__("invalid type definitions:\n" + "\n".join(f"  {i}" for i in issues))


@dataclass
class TypedefDoc:
    path: Path
    defs: dict[str, list[dict[str, Any]]]


@dataclass
class ApplyReport:
    created: list[tuple[str, str, str]] = field(default_factory=list)  # (category label, name, version)
    updated: list[tuple[str, str, str, str]] = field(default_factory=list)  # (label, name, old, new)
    unchanged: list[str] = field(default_factory=list)
    # (name, server version, ours): newer on the server, not comparable, or a base type we never overwrite
    skipped_newer_on_server: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def lines(self) -> list[str]:
        out = [f"created {label} {name} (typeVersion {ver})" for label, name, ver in self.created]
        out += [f"updated {label} {name} (typeVersion {old} -> {new})" for label, name, old, new in self.updated]
        out += [f"kept the server's {name} (typeVersion {srv}; ours is {ours})"
                for name, srv, ours in self.skipped_newer_on_server]
        out.append(f"{len(self.unchanged)} type(s) already up to date")
        return out


def default_typedefs_dir() -> Path:
    """typedefs/ of a source checkout, or the copy packaged into the wheel; ATLAS_ML_TYPEDEFS_DIR wins."""
    if env := os.environ.get("ATLAS_ML_TYPEDEFS_DIR"):
        return Path(env)
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in (package_dir / "_typedefs", package_dir.parent / "typedefs"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("no typedefs directory found; set ATLAS_ML_TYPEDEFS_DIR")


def _json_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.json") if p.is_file())


def load_documents(root: Path, *, only_base: bool = False) -> tuple[list[TypedefDoc], list[TypedefIssue]]:
    """Parse every *.json below root in path order (the order they must be created in)."""
    docs: list[TypedefDoc] = []
    issues: list[TypedefIssue] = []
    if not root.is_dir():
        return [], [TypedefIssue(str(root), "typedefs directory does not exist")]
    for path in _json_files(root):
        rel = path.relative_to(root)
        if only_base and rel.parts[0] != BASE_DIR_NAME:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            issues.append(TypedefIssue(str(path), f"not valid JSON: {exc.msg} (column {exc.colno})",
                                       line=exc.lineno))
            continue
        if not isinstance(data, dict):
            issues.append(TypedefIssue(str(path), "must be a JSON object with enumDefs, entityDefs, ..."))
            continue
        unknown = sorted(set(data) - set(CATEGORIES))
        if unknown:
            issues.append(TypedefIssue(str(path), f"unknown key(s) {unknown}; allowed: {list(CATEGORIES)}"))
        defs = {cat: data.get(cat) or [] for cat in CATEGORIES}
        for cat, items in defs.items():
            if not isinstance(items, list):
                issues.append(TypedefIssue(str(path), f"'{cat}' must be a list"))
                defs[cat] = []
        docs.append(TypedefDoc(path, defs))
    return docs, issues


def _line_of(path: Path, name: str) -> int | None:
    """Line of a def's `"name": "<name>"` so that errors point into the file."""
    pattern = re.compile(r'"name"\s*:\s*"' + re.escape(name) + '"')
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if pattern.search(text):
            return number
    return None


def _referenced_types(type_name: str) -> list[str]:
    """Named types inside a type expression: array<map<string,foo>> -> ['foo']."""
    inner = re.sub(r"\b(array|map)<", " ", type_name).replace(">", " ").replace(",", " ")
    return [t for t in inner.split() if t not in PRIMITIVES]


def validate(docs: list[TypedefDoc], *, known_types: Iterable[str] = ()) -> list[TypedefIssue]:
    """Offline checks of what Atlas would reject, naming file, type and attribute of each problem."""
    issues: list[TypedefIssue] = []
    defined: dict[str, tuple[str, Path]] = {}
    for doc in docs:
        for cat in CATEGORIES:
            for item in doc.defs[cat]:
                name = item.get("name") if isinstance(item, dict) else None
                if not isinstance(name, str) or not name:
                    issues.append(TypedefIssue(str(doc.path), f"a {CATEGORY_LABEL[cat]} def has no 'name'"))
                    continue
                if name in defined:
                    issues.append(TypedefIssue(str(doc.path), f"defined twice (also in {defined[name][1]})",
                                               type_name=name, line=_line_of(doc.path, name)))
                defined[name] = (cat, doc.path)
    names = set(defined) | set(known_types)

    def need(doc: TypedefDoc, owner: str, ref: str, what: str, attribute: str | None = None) -> None:
        if ref not in names:
            issues.append(TypedefIssue(str(doc.path), f"{what} '{ref}' is not defined in typedefs/",
                                       type_name=owner, attribute=attribute, line=_line_of(doc.path, owner)))

    for doc in docs:
        for cat in CATEGORIES:
            for item in doc.defs[cat]:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    continue
                name = item["name"]
                line = _line_of(doc.path, name)

                def issue(message: str, attribute: str | None = None, _n: str = name, _l: int | None = line,
                          _d: TypedefDoc = doc) -> None:
                    issues.append(TypedefIssue(str(_d.path), message, type_name=_n, attribute=attribute, line=_l))

                version = item.get("typeVersion")
                if not isinstance(version, str) or not VERSION_RE.match(version):
                    issue(f"typeVersion must be a string like \"1.0\" (got {version!r}); apply relies on it")
                super_types = item.get("superTypes") or []
                if not isinstance(super_types, list):
                    issue(f"superTypes must be a list of type names (got {super_types!r})")
                    super_types = []
                for sup in super_types:
                    need(doc, name, sup, "super type")
                if cat == "enumDefs":
                    elements = item.get("elementDefs") or []
                    if not elements:
                        issue("an enum needs at least one elementDef")
                    values = [e.get("value") for e in elements]
                    ordinals = [e.get("ordinal") for e in elements]
                    if len(set(values)) != len(values):
                        issue("enum values must be unique")
                    if len(set(ordinals)) != len(ordinals):
                        issue("enum ordinals must be unique")
                for attr in item.get("attributeDefs") or []:
                    if not isinstance(attr, dict):
                        issue(f"each attributeDef must be an object (got {attr!r})")
                        continue
                    attr_name = attr.get("name")
                    if not attr_name:
                        issue("an attributeDef has no 'name'")
                        continue
                    type_name = attr.get("typeName")
                    if not isinstance(type_name, str) or not type_name:
                        issue("attribute has no 'typeName'", attr_name)
                        continue
                    for ref in _referenced_types(type_name):
                        need(doc, name, ref, "attribute type", attr_name)
                    card = attr.get("cardinality", "SINGLE")
                    if card not in CARDINALITIES:
                        issue(f"cardinality {card!r} is not one of {sorted(CARDINALITIES)}", attr_name)
                if cat == "classificationDefs":
                    for ent in item.get("entityTypes") or []:
                        need(doc, name, ent, "entity type")
                if cat == "relationshipDefs":
                    rel_cat = item.get("relationshipCategory", "ASSOCIATION")
                    if rel_cat not in RELATIONSHIP_CATEGORIES:
                        issue(f"relationshipCategory {rel_cat!r} is not one of {sorted(RELATIONSHIP_CATEGORIES)}")
                    prop = item.get("propagateTags", "NONE")
                    if prop not in PROPAGATE_TAGS:
                        issue(f"propagateTags {prop!r} is not one of {sorted(PROPAGATE_TAGS)}")
                    for end_key in ("endDef1", "endDef2"):
                        end = item.get(end_key)
                        if not isinstance(end, dict) or not end.get("type") or not end.get("name"):
                            issue(f"{end_key} needs 'type' and 'name'")
                            continue
                        need(doc, name, end["type"], f"{end_key} type")
                        if end.get("cardinality", "SINGLE") not in CARDINALITIES:
                            issue(f"{end_key} cardinality {end.get('cardinality')!r} is invalid")
    return issues


def check(root: Path | None = None) -> list[TypedefIssue]:
    docs, issues = load_documents(root or default_typedefs_dir())
    return issues + validate(docs)


def _server_index(server_defs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for cat in CATEGORIES for d in server_defs.get(cat) or []}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def apply(server: TypedefServer, root: Path | None = None, *, only_base: bool = False,
          dry_run: bool = False) -> ApplyReport:
    """Make the server's types match the files: create missing types, update those whose typeVersion
    differs (never downgrade), leave the rest. Running it twice changes nothing the second time.

    Two processes applying at once (two `server start`, two ingests after a restart) are no error: on this
    host they take turns (the client's write lock on TYPEDEFS_LOCK_NAME); from two hosts, the one whose
    create Atlas answers "409 Conflict" (the other created the types first) reads the types again and
    applies what is still missing."""
    writing = getattr(server, "writing", None)
    with writing([TYPEDEFS_LOCK_NAME]) if writing is not None else contextlib.nullcontext():
        try:
            return _apply_once(server, root, only_base=only_base, dry_run=dry_run)
        except AtlasMlError as exc:
            if getattr(exc, "status", None) != HTTP_CONFLICT or dry_run:
                raise
            return _apply_once(server, root, only_base=only_base, dry_run=dry_run)


def _apply_once(server: TypedefServer, root: Path | None, *, only_base: bool, dry_run: bool) -> ApplyReport:
    docs, issues = load_documents(root or default_typedefs_dir(), only_base=only_base)
    existing = _server_index(server.get_typedefs())
    issues += validate(docs, known_types=existing)
    if issues:
        raise TypedefValidationError(issues)

    report = ApplyReport()
    to_create: dict[str, list[dict[str, Any]]] = {cat: [] for cat in CATEGORIES}
    to_update: dict[str, list[dict[str, Any]]] = {cat: [] for cat in CATEGORIES}
    for doc in docs:
        for cat in CATEGORIES:
            for item in doc.defs[cat]:
                name, ours = item["name"], item["typeVersion"]
                current = existing.get(name)
                if current is None:
                    to_create[cat].append(item)
                    report.created.append((CATEGORY_LABEL[cat], name, ours))
                    continue
                theirs = str(current.get("typeVersion") or "1.0")
                is_base = doc.path.parent.name == BASE_DIR_NAME
                if theirs == ours:
                    report.unchanged.append(name)
                elif is_base or not VERSION_RE.match(theirs) or _version_key(theirs) > _version_key(ours):
                    # Base types belong to the server (a real Atlas has them, often newer and richer): we
                    # only create them where missing. A version we cannot compare is not ours to overwrite.
                    report.skipped_newer_on_server.append((name, theirs, ours))
                else:
                    to_update[cat].append(item)
                    report.updated.append((CATEGORY_LABEL[cat], name, theirs, ours))
    if not dry_run:
        # One request per kind of change: Atlas resolves references among the types of one request.
        if any(to_create.values()):
            server.create_typedefs(to_create)
        if any(to_update.values()):
            server.update_typedefs(to_update)
    return report
