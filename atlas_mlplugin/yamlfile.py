"""YAML files whose every problem is reported as FILE:LINE:COL: field: message (catalogs, policies).

PyYAML's node tree keeps each key's position; pydantic's error `loc` is a path into the same structure, so
walking the tree along the `loc` finds the line to show.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Loc = tuple[str | int, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class YamlIssue:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    field: str  # dotted path such as datasets[2].license; empty for the file as a whole
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


def loc_to_path(loc: Loc) -> str:
    """('datasets', 2, 'license') -> 'datasets[2].license'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_mapping(text: str, file: str, *, error: Callable[[list[YamlIssue]], Exception], empty: str,
                 not_a_mapping: str) -> tuple[Node, dict[str, Any], list[YamlIssue]]:
    """The document's node tree, its data (which must be a mapping) and its duplicate-key issues; an
    empty, malformed or non-mapping document raises `error(issues)`."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise error([YamlIssue(file, 1, 1, "", empty)])
        duplicates = duplicate_keys(root, file)  # before construction, which rewrites merge keys in place
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise error([yaml_issue(text, file, exc)]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        mark = root.start_mark
        raise error(duplicates + [YamlIssue(file, mark.line + 1, mark.column + 1, "",
                                            f"{not_a_mapping}; this file holds a {type(data).__name__}")])
    return root, data, duplicates


def yaml_issue(text: str, file: str, exc: yaml.YAMLError) -> YamlIssue:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "unreadable"
        if exc.problem and exc.context:
            where = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
            message += f" ({exc.context}{where})"
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return YamlIssue(file, line, column, "", f"invalid YAML: {message}")
    if isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1
        return YamlIssue(file, line, 1, "", f"invalid YAML: {exc.reason}")
    return YamlIssue(file, 1, 1, "", f"invalid YAML: {exc}")


def duplicate_keys(root: Node, file: str) -> list[YamlIssue]:
    """PyYAML keeps the last of two equal keys without a word; that hides a lost value."""
    issues: list[YamlIssue] = []
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
                        issues.append(YamlIssue(
                            file, key.start_mark.line + 1, key.start_mark.column + 1,
                            loc_to_path((*loc, key.value)),
                            f"duplicate key {key.value!r} (first at line {first[key.value]}); YAML would keep only "
                            "this last value"))
                    else:
                        first[key.value] = key.start_mark.line + 1
                walk(value, (*loc, key.value) if isinstance(key, ScalarNode) else loc)

    walk(root, ())
    return issues


def mapping_key(node: MappingNode, name: str) -> tuple[Node, Node] | None:
    return next(((k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == name), None)


def locate(root: Node, loc: Loc, *, when_absent: Mapping[str, str] | None = None) -> tuple[int, int]:
    """1-based line and column of the key (or list item) at `loc`; for a key that is missing, the mapping
    that lacks it, or the key named in `when_absent` (a field required only because another is set)."""
    node, mark = root, root.start_mark
    for part in loc:
        if isinstance(node, MappingNode):
            match = mapping_key(node, str(part)) or mapping_key(node, (when_absent or {}).get(str(part), ""))
            if match is None:
                break
            mark, node = match[0].start_mark, match[1]
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
        else:
            break
    return mark.line + 1, mark.column + 1


def value_message(err: Any) -> str:
    """A pydantic error about a value, in the words a YAML author needs (other than unknown fields)."""
    kind, value = err["type"], err.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "string_type" and isinstance(value, (bool, int, float, dt.date)):
        # YAML turns unquoted 1.0, yes, 2024-01-01 into numbers, booleans and dates.
        return f"expected text, got {value!r} ({type(value).__name__}); put it in quotes"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind.endswith(("_type", "_parsing", "literal_error", "enum")) and isinstance(value, (str, int, float, bool)):
        message += f" (got {value!r})"
    return message
