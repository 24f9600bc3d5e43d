package io.atlasml.spark;

import java.util.List;
import org.apache.spark.sql.catalyst.TableIdentifier;
import org.apache.spark.sql.catalyst.catalog.CatalogTable;

/** Catalog (V1) tables as datasets. */
final class Tables {
    private Tables() {
    }

    static DatasetRef ref(CatalogTable table, AtlasConfig config, List<DatasetRef.Field> fields) {
        TableIdentifier id = table.identifier();
        java.net.URI location = ScalaInterop.option(table.storage().locationUri());
        String provider = ScalaInterop.option(table.provider());
        String database = ScalaInterop.option(id.database());
        String where = location == null ? managedLocation(config, table, database, id.table()) : location.toString();
        return DatasetNaming.table(config, ScalaInterop.option(id.catalog()), database,
                id.table(), where,
                provider == null ? null : provider.toLowerCase(java.util.Locale.ROOT),
                fields != null ? fields : Names.fields(table.schema()));
    }

    /**
     * A managed table being created has no location yet (CTAS, saveAsTable): Spark's session catalog puts it
     * at WAREHOUSE/TABLE (default database) or WAREHOUSE/DB.db/TABLE, lower-cased.
     */
    static String managedLocation(AtlasConfig config, CatalogTable table, String database, String name) {
        if (config == null || config.warehouseDir == null || config.metastoreUri != null
                || !"MANAGED".equals(table.tableType().name())) {
            return null;
        }
        String wh = config.warehouseDir.replaceAll("/+$", "");
        String db = database == null ? "default" : database.toLowerCase(java.util.Locale.ROOT);
        String t = name.toLowerCase(java.util.Locale.ROOT);
        return db.equals("default") ? wh + "/" + t : wh + "/" + db + ".db/" + t;
    }
}
