"""Catalog as code: a YAML file of licenses, consent records, datasets, derivations, models and training runs
that `apply_catalog` makes Atlas match, idempotently and without deleting anything."""

from atlas_mlplugin.catalog.apply import ApplyEntry, ApplyReport, apply_catalog
from atlas_mlplugin.catalog.document import CatalogDocument
from atlas_mlplugin.catalog.loader import CatalogError, CatalogIssue, load_catalog, parse_catalog

__all__ = ["ApplyEntry", "ApplyReport", "CatalogDocument", "CatalogError", "CatalogIssue", "apply_catalog",
           "load_catalog", "parse_catalog"]
