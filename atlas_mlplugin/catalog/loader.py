"""Reading a catalog file: YAML -> CatalogDocument, every problem reported as FILE:LINE:COL: field: message
(reading, positions and wording: atlas_mlplugin/yamlfile.py, shared with policy files)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from atlas_mlplugin.catalog.document import UNION_TAGS, CatalogDocument, partial_document
from atlas_mlplugin.licenses.catalog import LicenseCatalog
from atlas_mlplugin.yamlfile import Loc, YamlFileError, YamlFormat, YamlIssue, parse, read_text

CatalogIssue = YamlIssue


class CatalogError(YamlFileError):
    """The catalog file is invalid; `issues` says where and why, one per problem."""


CATALOG_FORMAT = YamlFormat(
    model=CatalogDocument, error=CatalogError,
    empty="the file is empty; a catalog starts with `version: 1`",
    not_a_mapping="a catalog is a mapping with version: 1 and the sections licenses, consent_records, "
                  "datasets, derivations, models, training_runs, evaluations, accepted_risks",
    union_tags=UNION_TAGS,
    when_absent={"attestation": "attested"},
)


def load_catalog(path: Path, *, catalog: LicenseCatalog | None = None,
                 allow_external_refs: bool = False) -> CatalogDocument:
    """Read and check a catalog file. Relative local_path values are taken relative to the file's folder.

    `catalog` is the license catalog datasets may use besides the file's own licenses (default: built in);
    `allow_external_refs` lets inputs and consent records name entities that exist only in Atlas.
    Raises CatalogError (a ValueError) listing every problem of the file at once, each as FILE:LINE:COL, also
    when the file cannot be read, is too big or nests too deep (see yamlfile.py) and when a local_path to
    fingerprint is missing. Nothing is written to Atlas: a file with a problem is applied not at all.
    """
    path = Path(path)
    doc = parse_catalog(read_text(path, CatalogError), file=str(path), catalog=catalog,
                        allow_external_refs=allow_external_refs, base_dir=path.resolve().parent)
    return doc.resolve_paths(path.resolve().parent)


def parse_catalog(text: str, *, file: str = "<string>", catalog: LicenseCatalog | None = None,
                  allow_external_refs: bool = False, base_dir: Path | None = None) -> CatalogDocument:
    """Like load_catalog, for text already read (`file` is only used in messages). Relative local paths (as
    qualified names and as local_path) are taken relative to `base_dir` (default: the working directory)."""
    context = {"base_dir": base_dir} if base_dir else None
    parsed = parse(text, file, CATALOG_FORMAT, context=context, keep_going=True)
    doc: CatalogDocument = parsed.value
    incomplete: frozenset[str] = frozenset()
    where: Callable[[Loc], Loc] = lambda loc: loc  # noqa: E731
    if doc is None:  # entries refused: check the others too, so the file's problems are reported at once
        partial = partial_document(parsed.data, parsed.errors, context)
        if partial is None:
            raise CatalogError(parsed.issues, omitted=parsed.omitted)
        doc, incomplete, where = partial.doc, partial.incomplete, partial.file_loc
    problems = doc.reference_problems(catalog=catalog, allow_external_refs=allow_external_refs,
                                      incomplete=incomplete)
    problems += doc.local_path_problems(base_dir or Path.cwd())
    issues = parsed.issues + [parsed.issue(where(p.loc), p.message, see=where(p.see) if p.see else None)
                              for p in problems]
    if issues:
        raise CatalogError(issues, omitted=parsed.omitted)
    return doc
