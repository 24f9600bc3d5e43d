"""YAML files validated by a pydantic model, every problem reported as FILE:LINE:COL: field: message.

The one loader of the catalog (`atlas-ml apply`) and policy (`atlas-ml check --policy`) files. PyYAML's node
tree keeps each key's position; pydantic's error `loc` is a path into the same structure, so walking the tree
along the `loc` finds the line to show. A file type supplies its model and its own semantic checks; reading,
decoding, duplicate keys, validation and the wording of each problem are done here once.

Whatever the file holds, reading it ends in the file type's YamlFileError with a position, never in another
exception: a file too big (limits.MAX_YAML_BYTES) or not UTF-8; nesting deeper than limits.MAX_NESTING,
refused as the parser's events stream by and before the composer (which recurses per level) descends;
aliases that refer to the value they are in, or that repeat values past limits.MAX_YAML_NODES ("billion
laughs"); text that is no Unicode (lone surrogates from \\u escapes); values the constructor cannot build
(a date 2024-13-45, a number of thousands of digits).
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
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    ScalarEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from atlas_mlplugin.errors import AtlasMlError
from atlas_mlplugin.limits import MAX_ISSUES_SHOWN, MAX_NESTING, MAX_YAML_BYTES, MAX_YAML_NODES

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
    """A YAML file is invalid; `issues` says where and why, one per problem (sorted by position).
    `omitted` counts further problems found but not listed (past limits.MAX_ISSUES_SHOWN)."""

    def __init__(self, issues: list[YamlIssue], *, omitted: int = 0) -> None:
        ordered = sorted(issues, key=lambda i: (i.file, i.line, i.column, i.field))
        self.issues = ordered[:MAX_ISSUES_SHOWN]
        self.omitted = omitted + len(ordered) - len(self.issues)
        lines = [str(issue) for issue in self.issues]
        if self.omitted:
            lines.append(f"... and {self.omitted:,} more problems; fix these and read the file again")
        super().__init__("\n".join(lines))


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
    """A validated document, its node tree (to locate further problems) and the problems found so far.

    With `parse(..., keep_going=True)` a document pydantic refuses comes back too: `value` None, `data` the
    plain YAML data and `errors` pydantic's errors, so that the file type can still check what it can (see
    catalog/loader.py) and report every problem of the file at once."""

    root: Node
    value: Any
    issues: list[YamlIssue]
    file: str
    format: YamlFormat
    data: Any = None
    errors: list[Any] = field(default_factory=list)
    omitted: int = 0  # problems found but not turned into issues (past MAX_ISSUES_SHOWN)

    def issue(self, loc: Loc, message: str, *, see: Loc | None = None) -> YamlIssue:
        """A problem at `loc` (a path into the model), optionally pointing at the line of another entry."""
        in_file = file_loc(self.root, loc, self.format.union_tags)
        line, column = locate(self.root, in_file, when_absent=self.format.when_absent)
        if see is not None:
            message += f" (line {locate(self.root, see)[0]})"
        return YamlIssue(self.file, line, column, loc_to_path(in_file), message)


def read_text(path: Path, error: type[YamlFileError]) -> str:
    """The file as UTF-8 text; `error` when it cannot be read, is bigger than limits.MAX_YAML_BYTES or is
    not UTF-8."""
    def refuse(line: int, message: str) -> YamlFileError:
        return error([YamlIssue(str(path), line, 1, "", message)])

    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)  # not more: the file may be anything, even /dev/zero
    except OSError as exc:
        raise refuse(1, f"cannot read the file ({exc.strerror or exc}); check the path and its permissions") \
            from None
    if len(raw) > MAX_YAML_BYTES:
        raise refuse(1, f"the file is bigger than {MAX_YAML_BYTES // 2**20} MB, the limit for a YAML file here; "
                        "is it the right file? Split a catalog this big into several files")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise refuse(line, f"not UTF-8 text ({exc.reason}); save the file as UTF-8") from None


def parse(text: str, file: str, fmt: YamlFormat, *, context: dict[str, Any] | None = None,
          keep_going: bool = False) -> ParsedYaml:
    """Validate `text` against the format's model. Raises the format's error listing every problem pydantic
    finds (and duplicate keys), or with `keep_going` returns them in `issues` with `value` None; returns
    the document with duplicate-key issues for the caller to add to."""
    root, data, issues = read_mapping(text, file, error=fmt.error, empty=fmt.empty, not_a_mapping=fmt.not_a_mapping)
    parsed = ParsedYaml(root, None, issues, file, fmt, data=data)
    try:
        parsed.value = fmt.model.model_validate(data, context=context)
    except ValidationError as exc:
        # Locating an issue walks the node tree; a file with a million bad values is not worth a million walks.
        parsed.errors = exc.errors()
        shown = [_validation_issue(parsed, err) for err in parsed.errors[:MAX_ISSUES_SHOWN]]
        parsed.issues = issues + shown
        parsed.omitted = len(parsed.errors) - len(shown)
        if not keep_going:
            raise fmt.error(parsed.issues, omitted=parsed.omitted) from None
    return parsed


def _validation_issue(parsed: ParsedYaml, err: Any) -> YamlIssue:
    loc = tuple(err["loc"])
    fmt = parsed.format
    if err["type"] == "invalid_key" or loc[-1:] == ("[key]",):
        return _key_issue(parsed, loc[:-1] if loc[-1:] == ("[key]",) else loc)
    if err["type"] != "extra_forbidden":
        return parsed.issue(loc, value_message(err))
    model = model_at(fmt.model, loc[:-1], fmt.union_tags)
    keys = [f.alias or name for name, f in model.model_fields.items()] if model else []
    close = difflib.get_close_matches(str(loc[-1]), keys, n=1, cutoff=0.6)
    noun = fmt.key_noun(model) if model else "field"
    return parsed.issue(loc, f"unknown {noun} {loc[-1]!r}" + (
        f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(keys)}" if keys else ""))


def _key_issue(parsed: ParsedYaml, loc: Loc) -> YamlIssue:
    """A key YAML read as a number, date, null ... where text is needed; pydantic names it by its value."""
    in_file = file_loc(parsed.root, loc[:-1], parsed.format.union_tags)
    node: Node | None = parsed.root
    for part in in_file:
        match = mapping_key(node, str(part)) if isinstance(node, MappingNode) else None
        node = match[1] if match else (node.value[part] if isinstance(node, SequenceNode) and isinstance(part, int)
                                        and 0 <= part < len(node.value) else None)
    keys = [k for k, _ in node.value if not (isinstance(k, ScalarNode) and k.tag == _STR_TAG)] \
        if isinstance(node, MappingNode) else []
    key = next((k for k in keys if isinstance(k, ScalarNode) and k.value == str(loc[-1])), keys[0] if keys else None)
    if key is None:
        return parsed.issue(loc[:-1], "keys must be text")
    text = key.value if isinstance(key, ScalarNode) else "this key"
    return YamlIssue(parsed.file, key.start_mark.line + 1, key.start_mark.column + 1, loc_to_path(in_file),
                     f"key {text!r} is not text; put it in quotes")


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
    empty, malformed, too deep or too big, or non-mapping document raises `error(issues)`."""
    loader: _LimitedLoader | None = None
    try:
        loader = _LimitedLoader(text)  # the reader checks the whole text for unprintable characters here
        root = loader.get_single_node()
        if root is None:
            raise error([YamlIssue(file, 1, 1, "", empty)])
        duplicates = duplicate_keys(root, file)  # before construction, which rewrites merge keys in place
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise error([yaml_issue(text, file, exc)]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict):
        mark = root.start_mark
        raise error(duplicates + [YamlIssue(file, mark.line + 1, mark.column + 1, "",
                                            f"{not_a_mapping}; this file holds a {type(data).__name__}")])
    return root, data, duplicates


_STR_TAG = "tag:yaml.org,2002:str"
_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})
# PyYAML turns "1:2:3:..." (a YAML 1.1 base-60 number) into an int one digit at a time, in quadratic time:
# a 2 MB line would take minutes. No number in our files needs more than a few digits.
_MAX_NUMBER_CHARS = 1000


class _Refused(yaml.MarkedYAMLError):
    """A document over one of the limits (or holding text that is no Unicode): not malformed YAML, so the
    message is shown as it is, without "invalid YAML"."""


class _LimitedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, watching the events as the composer takes them: a collection deeper than
    MAX_NESTING, an alias of the value it is in, an alias that takes the document past MAX_YAML_NODES, or
    a lone surrogate in a scalar is refused right there, with its position. The composer recurses once per
    level, so refusing the event that opens level MAX_NESTING + 1 keeps it from ever recursing deeper.

    Alias sizes are counted as the events pass (an anchor's expanded size is known when its value ends), so
    the check is linear in the file, not in the expanded document."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._open: list[list[Any]] = []  # per open collection: [anchor, height below it]
        self._anchored: dict[str, tuple[int, int]] = {}  # anchor -> (expanded nodes, height)
        self._nodes = 0  # nodes so far, an alias counting as all it repeats
        self._started: list[int] = []  # self._nodes when each open collection began

    def get_event(self) -> Event:
        event = super().get_event()
        if isinstance(event, CollectionStartEvent):
            if len(self._open) >= MAX_NESTING:
                raise _Refused(problem=f"the document nests deeper than {MAX_NESTING} levels here; flatten it",
                               problem_mark=event.start_mark)
            self._add(1, event)
            self._open.append([event.anchor, 0])
            self._started.append(self._nodes - 1)
        elif isinstance(event, CollectionEndEvent):
            anchor, height = self._open.pop()
            started = self._started.pop()
            self._grow(height + 1)
            if anchor is not None:
                self._anchored[anchor] = (self._nodes - started, height + 1)
        elif isinstance(event, ScalarEvent):
            if _has_surrogate(event.value):
                raise _Refused(problem="this text holds half of a UTF-16 surrogate pair (a \\u escape such as "
                                       "\\uD83D), which is no character; write the character itself, or escape "
                                       "it as \\U0001F600", problem_mark=event.start_mark)
            self._add(1, event)
            if event.anchor is not None:
                self._anchored[event.anchor] = (1, 0)
        elif isinstance(event, AliasEvent):
            self._alias(event)
        return event

    def _alias(self, event: AliasEvent) -> None:
        if any(anchor == event.anchor for anchor, _ in self._open):
            raise _Refused(problem=f"alias *{event.anchor} refers to the value it is part of; a value cannot "
                                   "contain itself", problem_mark=event.start_mark)
        if event.anchor not in self._anchored:
            return  # the composer reports an undefined alias
        nodes, height = self._anchored[event.anchor]
        if len(self._open) + height > MAX_NESTING:
            raise _Refused(problem=f"alias *{event.anchor} nests the document deeper than {MAX_NESTING} levels; "
                                   "flatten it", problem_mark=event.start_mark)
        self._add(nodes, event)
        self._grow(height)

    def _add(self, nodes: int, event: Event) -> None:
        self._nodes += nodes
        if self._nodes > MAX_YAML_NODES:
            what = f"alias *{event.anchor} repeats {nodes:,} values and" if isinstance(event, AliasEvent) \
                else "the document"
            raise _Refused(problem=f"{what} takes the document past {MAX_YAML_NODES:,} values, the limit; use fewer "
                                   "aliases (an alias repeats everything under its anchor) or split the file",
                           problem_mark=event.start_mark)

    def _grow(self, height: int) -> None:
        if self._open and height > self._open[-1][1]:
            self._open[-1][1] = height

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        if node.tag in _NUMBER_TAGS and isinstance(node, ScalarNode) and len(node.value) > _MAX_NUMBER_CHARS:
            raise _Refused(problem=f"a number of {len(node.value):,} characters; put it in quotes if it is text",
                           problem_mark=node.start_mark)
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        # 2024-13-45, an int of 5,000 digits, !!bool maybe (KeyError), !!timestamp abc (AttributeError) ...
        except (ValueError, TypeError, OverflowError, LookupError, AttributeError) as exc:
            tag = node.tag.rsplit(":", 1)[-1]
            # A ValueError says what is wrong (month must be in 1..12); the others only how PyYAML tripped.
            why = f" ({exc})" if isinstance(exc, (ValueError, OverflowError)) else ""
            raise _Refused(problem=f"cannot read {_short(node)} as a YAML {tag}{why}; put it in quotes if it is "
                                   "text", problem_mark=node.start_mark) from None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _short(node: Node) -> str:
    value = node.value if isinstance(node, ScalarNode) else ""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def yaml_issue(text: str, file: str, exc: yaml.YAMLError) -> YamlIssue:
    if isinstance(exc, _Refused):
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return YamlIssue(file, line, column, "", exc.problem or "refused")
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
