"""YAML files validated by a pydantic model, every problem reported as FILE:LINE:COL: field: message.

The one loader of the catalog (`atlas-ml apply`) and policy (`atlas-ml check --policy`) files. PyYAML's node
tree keeps each key's position; pydantic's error `loc` is a path into the same structure, so walking the tree
along the `loc` finds the line to show. A file type supplies its model and its own semantic checks; reading,
decoding, duplicate keys, validation and the wording of each problem are done here once.
"""

from __future__ import annotations

import datetime as dt
import difflib
import types
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from atlas_mlplugin.errors import AtlasMlError

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


class YamlFileError(AtlasMlError, ValueError):
    """A YAML file is invalid; `issues` says where and why, one per problem (sorted by position)."""

    def __init__(self, issues: list[YamlIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.line, i.column, i.field))
        super().__init__("\n".join(str(issue) for issue in self.issues))


@dataclass(frozen=True)
class YamlFormat:
    """What a kind of YAML file is: its model, what to say when it is empty or not a mapping, and how
    pydantic's error locations map onto the file."""

    model: type[BaseModel]
    error: type[YamlFileError]
    empty: str
    not_a_mapping: str
    # Pydantic inserts these (the chosen branch of a tagged union) after a list index; not keys of the file.
    union_tags: frozenset[str] = frozenset()
    # A field required only because another is set is best shown at the key that requires it.
    when_absent: Mapping[str, str] = field(default_factory=dict)
    # How an unknown key is called at a model (e.g. "operator" inside a condition), default "field".
    key_noun: Callable[[type[BaseModel]], str] = lambda _model: "field"


@dataclass
class ParsedYaml:
    """A validated document, its node tree (to locate further problems) and the problems found so far."""

    root: Node
    value: Any
    issues: list[YamlIssue]
    file: str
    format: YamlFormat

    def issue(self, loc: Loc, message: str, *, see: Loc | None = None) -> YamlIssue:
        """A problem at `loc` (a path into the model), optionally pointing at the line of another entry."""
        in_file = file_loc(self.root, loc, self.format.union_tags)
        line, column = locate(self.root, in_file, when_absent=self.format.when_absent)
        if see is not None:
            message += f" (line {locate(self.root, see)[0]})"
        return YamlIssue(self.file, line, column, loc_to_path(in_file), message)


def read_text(path: Path, error: type[YamlFileError]) -> str:
    """The file as UTF-8 text; OSError when it cannot be read, `error` when it is not UTF-8."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error([YamlIssue(str(path), line, 1, "", f"not UTF-8 text ({exc.reason})")]) from None


def parse(text: str, file: str, fmt: YamlFormat, *, context: dict[str, Any] | None = None) -> ParsedYaml:
    """Validate `text` against the format's model. Raises the format's error listing every problem pydantic
    finds (and duplicate keys); returns the document with duplicate-key issues for the caller to add to."""
    root, data, issues = read_mapping(text, file, error=fmt.error, empty=fmt.empty, not_a_mapping=fmt.not_a_mapping)
    parsed = ParsedYaml(root, None, issues, file, fmt)
    try:
        parsed.value = fmt.model.model_validate(data, context=context)
    except ValidationError as exc:
        raise fmt.error(issues + [_validation_issue(parsed, err) for err in exc.errors()]) from None
    return parsed


def _validation_issue(parsed: ParsedYaml, err: Any) -> YamlIssue:
    loc = tuple(err["loc"])
    fmt = parsed.format
    if err["type"] != "extra_forbidden":
        return parsed.issue(loc, value_message(err))
    model = model_at(fmt.model, loc[:-1], fmt.union_tags)
    keys = [f.alias or name for name, f in model.model_fields.items()] if model else []
    close = difflib.get_close_matches(str(loc[-1]), keys, n=1, cutoff=0.6)
    noun = fmt.key_noun(model) if model else "field"
    return parsed.issue(loc, f"unknown {noun} {loc[-1]!r}" + (
        f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(keys)}" if keys else ""))


def file_loc(root: Node, loc: Loc, union_tags: Collection[str] = ()) -> Loc:
    """Pydantic's location as a path into the file: without union branch names, and without the list index
    of a value given as one item where the model takes a list (`tag: X` for `tag: [X]`)."""
    out: list[str | int] = []
    node: Node | None = root
    previous: str | int | None = None
    for part in loc:
        skip_tag = part in union_tags and isinstance(previous, int)
        previous = part
        if skip_tag or (isinstance(part, int) and node is not None and not isinstance(node, SequenceNode)):
            continue
        out.append(part)
        if isinstance(node, MappingNode):
            match = mapping_key(node, str(part))
            node = match[1] if match else None
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            node = None
    return tuple(out)


def model_at(root: type[BaseModel], loc: Loc, union_tags: Collection[str] = ()) -> type[BaseModel] | None:
    """The pydantic model whose fields are valid at `loc`, found by walking the type annotations from `root`
    (used to suggest the field a typo meant)."""
    annotation: Any = root
    for part in loc:
        if part in union_tags:
            continue
        annotation = _step(annotation, part)
        if annotation is None:
            return None
    return _model_in(annotation)


def _step(annotation: Any, part: str | int) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if isinstance(part, int):
            return None
        found = annotation.model_fields.get(part)
        return found.annotation if found else None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _step(args[0], part)
    if origin in (typing.Union, types.UnionType):
        return next((s for a in args if a is not type(None) and (s := _step(a, part)) is not None), None)
    if origin is list and isinstance(part, int):
        return args[0]
    if origin is dict and isinstance(part, str):
        return args[1]
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (Annotated, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


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
