"""The datasets a PySpark DataFrame reads, from the leaves of its analyzed logical plan (through py4j).

One small reader per leaf type, as the Spark listener has one visitor per plan node (its Java visitors do
the same for SQL executions); every name comes from naming.py, so a table written under the listener and
read here is one dataset. A leaf that reads data no one can name (a checkpointed or RDD-based DataFrame,
in-memory rows) is reported as unresolved, never dropped: a run with unresolved inputs is marked as having
incomplete lineage instead of looking clean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from atlas_mlplugin import naming
from atlas_mlplugin.scrubbing import logger

log = logger(__name__)

# Leaves that produce rows without reading any data: nothing to name, nothing missing.
GENERATED_LEAVES = frozenset({"Range", "OneRowRelation"})
# Leaves whose data Spark itself cannot trace back to a source.
UNTRACEABLE_LEAVES = {
    "LogicalRDD": "a checkpointed or RDD-based DataFrame (Spark keeps no link to where its rows came from)",
    "ExternalRDD": "a DataFrame made from an RDD (Spark keeps no link to where its rows came from)",
    "LocalRelation": "in-memory rows (e.g. createDataFrame from local data)",
}


@dataclass
class PlanSources:
    names: list[str] = field(default_factory=list)  # qualifiedNames of the datasets read
    unresolved: list[str] = field(default_factory=list)  # what could not be named, and why


Conf = Mapping[str, str]
LeafReader = Callable[[Any, Conf], list[naming.DatasetName] | None]


def _iterate(seq: Any) -> list[Any]:
    items, it = [], seq.iterator()
    while it.hasNext():
        items.append(it.next())
    return items


def _option(value: Any) -> Any:
    return value.get() if value is not None and value.isDefined() else None


def _class_names(obj: Any) -> list[str]:
    """The JVM class of obj and its superclasses, by simple name (Delta's relation is an anonymous
    subclass of HadoopFsRelation, so a simple-name check on the class alone misses it)."""
    names, cls = [], obj.getClass()
    while cls is not None:
        names.append(cls.getSimpleName() or cls.getName())
        cls = cls.getSuperclass()
    return names


def _catalog_table(table: Any, conf: Conf) -> naming.DatasetName:
    ident = table.identifier()
    return naming.from_table(_option(ident.catalog()), _option(ident.database()), ident.table(), conf=conf)


def read_logical_relation(leaf: Any, conf: Conf) -> list[naming.DatasetName] | None:
    """File sources, JDBC, and catalog tables over either (a table is named by the table, not its files)."""
    if leaf.getClass().getSimpleName() != "LogicalRelation":
        return None
    table = _option(leaf.catalogTable())
    if table is not None:
        return [_catalog_table(table, conf)]
    relation = leaf.relation()
    kinds = _class_names(relation)
    if "JDBCRelation" in kinds:
        options = relation.jdbcOptions()
        return [naming.from_jdbc(options.url(), options.tableOrQuery())]
    if "HadoopFsRelation" in kinds:
        return [naming.from_path(p.toString()) for p in _iterate(relation.location().rootPaths())]
    return [naming.DatasetName("spark", relation.getClass().getName())]  # visible, with no known license


def read_hive_table(leaf: Any, conf: Conf) -> list[naming.DatasetName] | None:
    if leaf.getClass().getSimpleName() != "HiveTableRelation":
        return None
    return [_catalog_table(leaf.tableMeta(), conf)]


def read_v2_relation(leaf: Any, conf: Conf) -> list[naming.DatasetName] | None:
    """DataSource V2 tables: Iceberg, Delta through its catalog, JDBC catalogs, path-based V2 sources."""
    if leaf.getClass().getSimpleName() != "DataSourceV2Relation":
        return None
    table, ident = leaf.table(), _option(leaf.identifier())
    namespace = list(ident.namespace()) if ident is not None else []
    if table.getClass().getName().endswith(".jdbc.JDBCTable") and ident is not None:
        options = table.jdbcOptions()
        return [naming.from_jdbc(options.url(), ".".join([*namespace, ident.name()]))]
    if ident is not None:
        catalog = _option(leaf.catalog())
        return [naming.from_table(catalog.name() if catalog is not None else None, ".".join(namespace) or None,
                                  ident.name(), conf=conf)]
    options = leaf.options()
    path = options.get("path") if options is not None and options.containsKey("path") else None
    path = path or table.properties().get("path")
    if path:
        return [naming.from_path(path)]
    return [naming.DatasetName("spark", table.name())]


READERS: tuple[LeafReader, ...] = (read_logical_relation, read_hive_table, read_v2_relation)


def read_plan(df: Any) -> PlanSources:
    """What `df` reads: the names of its sources, and the leaves that could not be named."""
    conf = dict(df.sparkSession.sparkContext.getConf().getAll())
    found = PlanSources()
    for leaf in _iterate(df._jdf.queryExecution().analyzed().collectLeaves()):
        kind = leaf.getClass().getSimpleName() or leaf.getClass().getName()
        if kind in GENERATED_LEAVES:
            continue
        if kind in UNTRACEABLE_LEAVES:
            found.unresolved.append(f"{kind}: {UNTRACEABLE_LEAVES[kind]}")
            continue
        try:
            names = next((named for reader in READERS if (named := reader(leaf, conf)) is not None), None)
        except Exception as exc:  # noqa: BLE001 - a plan shape we do not know must not break training
            log.debug("atlas-mlplugin: cannot name plan leaf %s", kind, exc_info=True)
            found.unresolved.append(f"{kind}: could not be read ({type(exc).__name__})")
            continue
        if names is None:
            found.unresolved.append(f"{kind}: a plan leaf the capture does not know")
            continue
        found.names += [n.qualified_name for n in names]
    found.names = sorted(set(found.names))
    found.unresolved = sorted(set(found.unresolved))
    return found


def plan_sources(df: Any) -> list[str]:
    """qualifiedNames of the sources a DataFrame reads, from its analyzed logical plan's leaves."""
    return read_plan(df).names
