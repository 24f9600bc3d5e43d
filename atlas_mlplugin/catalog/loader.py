"""Reading a catalog file: YAML -> CatalogDocument, every problem reported as FILE:LINE:COL: field: message
(reading, positions and wording: atlas_mlplugin/yamlfile.py, shared with policy files)."""

from __future__ import annotations

from pathlib import Path

from atlas_mlplugin.catalog.document import UNION_TAGS, CatalogDocument
from atlas_mlplugin.licenses.catalog import LicenseCatalog
from atlas_mlplugin.yamlfile import YamlFileError, YamlFormat, YamlIssue, parse, read_text

CatalogIssue = YamlIssue


class CatalogError(YamlFileError):
    """The catalog file is invalid; `issues` says where and why, one per problem."""


CATALOG_FORMAT = YamlFormat(
    model=CatalogDocument, error=CatalogError,
    empty="the file is empty; a catalog starts with `version: 1`",
    not_a_mapping="a catalog is a mapping with version: 1 and the sections licenses, consent_records, "
                  "datasets, derivations, models, training_runs",
    union_tags=UNION_TAGS,
    when_absent={"attestation": "attested"},
)


def load_catalog(path: Path, *, catalog: LicenseCatalog | None = None,
                 allow_external_refs: bool = False) -> CatalogDocument:
    """Read and check a catalog file. Relative local_path values are taken relative to the file's folder.

    `catalog` is the license catalog datasets may use besides the file's own licenses (default: built in);
    `allow_external_refs` lets inputs and consent records name entities that exist only in Atlas.
    Raises CatalogError (a ValueError) listing every problem; OSError when the file cannot be read.
    """
    path = Path(path)
    doc = parse_catalog(read_text(path, CatalogError), file=str(path), catalog=catalog,
                        allow_external_refs=allow_external_refs, base_dir=path.resolve().parent)
    return doc.resolve_paths(path.resolve().parent)


def parse_catalog(text: str, *, file: str = "<string>", catalog: LicenseCatalog | None = None,
                  allow_external_refs: bool = False, base_dir: Path | None = None) -> CatalogDocument:
    """Like load_catalog, for text already read (`file` is only used in messages). Relative local paths used
    as qualified names are taken relative to `base_dir` (default: the working directory)."""
    parsed = parse(text, file, CATALOG_FORMAT, context={"base_dir": base_dir} if base_dir else None)
    doc: CatalogDocument = parsed.value
    issues = parsed.issues + [
        parsed.issue(p.loc, p.message, see=p.see)
        for p in doc.reference_problems(catalog=catalog, allow_external_refs=allow_external_refs)]
    if issues:
        raise CatalogError(issues)
    return doc
