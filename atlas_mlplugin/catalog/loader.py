"""Reading a catalog file: YAML -> CatalogDocument, every problem reported as FILE:LINE:COL: field: message.

PyYAML's node tree keeps each key's position; pydantic's error `loc` is a path into the same structure, so
walking the tree along the `loc` finds the line to show.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from atlas_mlplugin.catalog.document import UNION_TAGS, CatalogDocument, Loc, Problem, loc_to_path, model_at
from atlas_mlplugin.licenses.catalog import LicenseCatalog

_MERGE_TAG = "tag:yaml.org,2002:merge"

# A field that is required only because another is set is best shown at the key that requires it.
_WHEN_ABSENT_SHOW = {"attestation": "attested"}


@dataclass(frozen=True)
class CatalogIssue:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    field: str  # dotted path such as datasets[2].license; empty for the file as a whole
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class CatalogError(ValueError):
    """The catalog file is invalid; `issues` says where and why, one per problem."""

    def __init__(self, issues: list[CatalogIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.line, i.column, i.field))
        super().__init__("\n".join(str(issue) for issue in self.issues))


def load_catalog(path: Path, *, catalog: LicenseCatalog | None = None,
                 allow_external_refs: bool = False) -> CatalogDocument:
    """Read and check a catalog file. Relative local_path values are taken relative to the file's folder.

    `catalog` is the license catalog datasets may use besides the file's own licenses (default: built in);
    `allow_external_refs` lets inputs and consent records name entities that exist only in Atlas.
    Raises CatalogError (a ValueError) listing every problem; OSError when the file cannot be read.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CatalogError([CatalogIssue(str(path), line, 1, "", f"not UTF-8 text ({exc.reason})")]) from None
    doc = parse_catalog(text, file=str(path), catalog=catalog, allow_external_refs=allow_external_refs)
    return doc.resolve_paths(path.resolve().parent)


def parse_catalog(text: str, *, file: str = "<string>", catalog: LicenseCatalog | None = None,
                  allow_external_refs: bool = False) -> CatalogDocument:
    """Like load_catalog, for text already read (`file` is only used in messages)."""
    root, data, issues = _read_yaml(text, file)
    try:
        doc = CatalogDocument.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(issues + [_validation_issue(root, file, err) for err in exc.errors()]) from None
    issues += [_problem_issue(root, file, p)
               for p in doc.reference_problems(catalog=catalog, allow_external_refs=allow_external_refs)]
    if issues:
        raise CatalogError(issues)
    return doc


def _read_yaml(text: str, file: str) -> tuple[Node, dict[str, Any], list[CatalogIssue]]:
    """The node tree (for positions), the data, and the duplicate-key issues."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise CatalogError([CatalogIssue(file, 1, 1, "", "the file is empty; a catalog starts with `version: 1`")])
        # Checked before constructing: construction rewrites mappings in place when it resolves merge keys.
        duplicates = _duplicate_keys(root, file)
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise CatalogError([_yaml_issue(text, file, exc)]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        mark = root.start_mark
        raise CatalogError(duplicates + [CatalogIssue(file, mark.line + 1, mark.column + 1, "", (
            f"a catalog is a mapping with version: 1 and the sections licenses, consent_records, datasets, "
            f"derivations, models, training_runs; this file holds a {type(data).__name__}"))])
    return root, data, duplicates


def _yaml_issue(text: str, file: str, exc: yaml.YAMLError) -> CatalogIssue:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "unreadable"
        if exc.problem and exc.context:
            where = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
            message += f" ({exc.context}{where})"
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return CatalogIssue(file, line, column, "", f"invalid YAML: {message}")
    if isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1
        return CatalogIssue(file, line, 1, "", f"invalid YAML: {exc.reason}")
    return CatalogIssue(file, 1, 1, "", f"invalid YAML: {exc}")


def _duplicate_keys(root: Node, file: str) -> list[CatalogIssue]:
    """PyYAML keeps the last of two equal keys without a word; in a catalog that hides a lost value."""
    issues: list[CatalogIssue] = []
    seen_nodes: set[int] = set()

    def walk(node: Node, loc: Loc) -> None:
        if id(node) in seen_nodes:  # aliases share nodes, and may even be recursive
            return
        seen_nodes.add(id(node))
        if isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*loc, i))
        elif isinstance(node, MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.tag != _MERGE_TAG:
                    if key.value in first:
                        issues.append(CatalogIssue(
                            file, key.start_mark.line + 1, key.start_mark.column + 1,
                            loc_to_path((*loc, key.value)),
                            f"duplicate key {key.value!r} (first at line {first[key.value]}); YAML would keep only "
                            "this last value"))
                    else:
                        first[key.value] = key.start_mark.line + 1
                walk(value, (*loc, key.value) if isinstance(key, ScalarNode) else loc)

    walk(root, ())
    return issues


def _strip_union_tags(loc: tuple[Any, ...]) -> Loc:
    # Pydantic inserts the chosen branch of a tagged union after the list index; it is not a key of the file.
    return tuple(p for i, p in enumerate(loc) if not (p in UNION_TAGS and i > 0 and isinstance(loc[i - 1], int)))


def _locate(root: Node, loc: Loc) -> tuple[int, int]:
    """1-based line and column of the key (or list item) at `loc`; for a key that is missing, the mapping
    that lacks it."""
    node, mark = root, root.start_mark
    for part in loc:
        if isinstance(node, MappingNode):
            match = _key(node, str(part)) or _key(node, _WHEN_ABSENT_SHOW.get(str(part), ""))
            if match is None:
                break
            mark, node = match[0].start_mark, match[1]
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
        else:
            break
    return mark.line + 1, mark.column + 1


def _key(node: MappingNode, name: str) -> tuple[Node, Node] | None:
    return next(((k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == name), None)


def _validation_issue(root: Node, file: str, err: Any) -> CatalogIssue:
    loc = _strip_union_tags(tuple(err["loc"]))
    line, column = _locate(root, loc)
    return CatalogIssue(file, line, column, loc_to_path(loc), _message(err, loc))


def _message(err: Any, loc: Loc) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        model = model_at(loc[:-1])
        fields = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
        return f"unknown field {loc[-1]!r}" + (f"; did you mean {close[0]!r}?" if close else
                                                f"; allowed: {', '.join(fields)}" if fields else "")
    if kind == "missing":
        return "required field is missing"
    if kind == "string_type" and isinstance(value, (bool, int, float, dt.date)):
        # YAML turns unquoted 1.0, yes, 2024-01-01 into numbers, booleans and dates.
        return f"expected text, got {value!r} ({type(value).__name__}); put it in quotes"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind.endswith(("_type", "_parsing", "literal_error", "enum")) and isinstance(value, (str, int, float, bool)):
        message += f" (got {value!r})"
    return message


def _problem_issue(root: Node, file: str, problem: Problem) -> CatalogIssue:
    line, column = _locate(root, problem.loc)
    message = problem.message
    if problem.see is not None:
        message += f" (line {_locate(root, problem.see)[0]})"
    return CatalogIssue(file, line, column, loc_to_path(problem.loc), message)
