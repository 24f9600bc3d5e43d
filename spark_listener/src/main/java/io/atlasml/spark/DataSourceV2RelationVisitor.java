package io.atlasml.spark;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.connector.catalog.CatalogPlugin;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation;

/**
 * {@code DataSourceV2Relation} leaves (and the target of V2 writes): a path when the table is path-based,
 * else catalog + identifier (namespace from spark.sql.catalog.NAME.url/uri/warehouse, credentials scrubbed).
 */
final class DataSourceV2RelationVisitor implements PlanVisitors.InputVisitor {
    @Override
    public List<DatasetRef> visit(LogicalPlan node, AtlasConfig config) {
        if (!(node instanceof DataSourceV2Relation)) {
            return null;
        }
        DataSourceV2Relation rel = (DataSourceV2Relation) node;
        Table table = rel.table();
        Map<String, String> options = rel.options() == null ? Map.of() : rel.options().asCaseSensitiveMap();
        Scrubber.rememberSecrets(options);
        Map<String, String> props = table.properties() == null ? Map.of() : table.properties();
        List<DatasetRef.Field> fields = Names.fields(table.schema());
        String format = props.getOrDefault("provider", null);
        List<DatasetRef> out = new ArrayList<>();
        CatalogPlugin catalog = ScalaInterop.option(rel.catalog());
        Identifier ident = ScalaInterop.option(rel.identifier());
        Object jdbc = table.getClass().getName().endsWith(".jdbc.JDBCTable") ? Names.call(table, "jdbcOptions") : null;
        if (jdbc instanceof org.apache.spark.sql.execution.datasources.jdbc.JDBCOptions && ident != null) {
            // a table of JDBCTableCatalog: named like a V1 JDBC table (URL without credentials + table)
            org.apache.spark.sql.execution.datasources.jdbc.JDBCOptions o =
                    (org.apache.spark.sql.execution.datasources.jdbc.JDBCOptions) jdbc;
            java.util.Map<String, String> params = new java.util.HashMap<>();
            o.asProperties().forEach((k, v) -> params.put(String.valueOf(k), String.valueOf(v)));
            Scrubber.rememberSecrets(params);
            String db = ident.namespace() == null || ident.namespace().length == 0 ? ""
                    : String.join(".", ident.namespace()) + ".";
            out.add(DatasetNaming.jdbc(o.url(), db + ident.name(), fields));
            return out;
        }
        if (ident != null) {
            out.add(tableRef(config, catalog == null ? null : catalog.name(), ident, props.get("location"), format,
                    fields));
            return out;
        }
        String path = options.containsKey("path") ? options.get("path") : props.get("path");
        if (path != null) {
            out.add(DatasetNaming.path(path, format, fields));
            return out;
        }
        out.add(new DatasetRef("spark", Scrubber.scrubText(table.name()), "spark", format, fields, null));
        return out;
    }

    static DatasetRef tableRef(AtlasConfig config, String catalog, Identifier ident, String location, String format,
                               List<DatasetRef.Field> fields) {
        String db = ident.namespace() == null || ident.namespace().length == 0 ? null
                : String.join(".", ident.namespace());
        return DatasetNaming.table(config, catalog, db, ident.name(), location, format, fields);
    }
}
