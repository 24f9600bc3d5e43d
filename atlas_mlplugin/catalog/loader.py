"""Reading a catalog file: YAML -> CatalogDocument, every problem reported as FILE:LINE:COL: field: message
(positions and YAML errors: atlas_mlplugin/yamlfile.py)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from yaml.nodes import Node

from atlas_mlplugin.catalog.document import UNION_TAGS, CatalogDocument, Problem, model_at
from atlas_mlplugin.licenses.catalog import LicenseCatalog
from atlas_mlplugin.yamlfile import Loc, YamlIssue, loc_to_path, locate, read_mapping, value_message

# A field that is required only because another is set is best shown at the key that requires it.
_WHEN_ABSENT_SHOW = {"attestation": "attested"}


CatalogIssue = YamlIssue


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
    root, data, issues = read_mapping(
        text, file, error=CatalogError, empty="the file is empty; a catalog starts with `version: 1`",
        not_a_mapping="a catalog is a mapping with version: 1 and the sections licenses, consent_records, "
                      "datasets, derivations, models, training_runs")
    try:
        doc = CatalogDocument.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(issues + [_validation_issue(root, file, err) for err in exc.errors()]) from None
    issues += [_problem_issue(root, file, p)
               for p in doc.reference_problems(catalog=catalog, allow_external_refs=allow_external_refs)]
    if issues:
        raise CatalogError(issues)
    return doc


def _strip_union_tags(loc: tuple[Any, ...]) -> Loc:
    # Pydantic inserts the chosen branch of a tagged union after the list index; it is not a key of the file.
    return tuple(p for i, p in enumerate(loc) if not (p in UNION_TAGS and i > 0 and isinstance(loc[i - 1], int)))


def _validation_issue(root: Node, file: str, err: Any) -> CatalogIssue:
    loc = _strip_union_tags(tuple(err["loc"]))
    line, column = locate(root, loc, when_absent=_WHEN_ABSENT_SHOW)
    return CatalogIssue(file, line, column, loc_to_path(loc), _message(err, loc))


def _message(err: Any, loc: Loc) -> str:
    if err["type"] != "extra_forbidden":
        return value_message(err)
    model = model_at(loc[:-1])
    fields = sorted(model.model_fields) if model else []
    close = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
    return f"unknown field {loc[-1]!r}" + (f"; did you mean {close[0]!r}?" if close else
                                            f"; allowed: {', '.join(fields)}" if fields else "")


def _problem_issue(root: Node, file: str, problem: Problem) -> CatalogIssue:
    line, column = locate(root, problem.loc, when_absent=_WHEN_ABSENT_SHOW)
    message = problem.message
    if problem.see is not None:
        message += f" (line {locate(root, problem.see)[0]})"
    return CatalogIssue(file, line, column, loc_to_path(problem.loc), message)
