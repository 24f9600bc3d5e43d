package io.atlasml.spark;

import org.apache.spark.sql.catalyst.catalog.CatalogTable;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;

/**
 * Hive writes: {@code InsertIntoHiveTable}, {@code CreateHiveTableAsSelectCommand},
 * {@code OptimizedCreateHiveTableAsSelectCommand}. They live in spark-hive, which this jar does not
 * depend on, so they are recognised by class name and read by reflection.
 */
final class HiveWriteVisitor implements PlanVisitors.WriteVisitor {
    private static final String PKG = "org.apache.spark.sql.hive.execution.";

    @Override
    public PlanVisitors.Write visit(LogicalPlan node, AtlasConfig config) {
        String cls = node.getClass().getName();
        if (!cls.startsWith(PKG)) {
            return null;
        }
        String simple = cls.substring(PKG.length());
        Object table;
        String mode;
        switch (simple) {
            case "InsertIntoHiveTable":
                table = Names.call(node, "table");
                mode = Boolean.TRUE.equals(Names.call(node, "overwrite")) ? "Overwrite" : "Append";
                break;
            case "CreateHiveTableAsSelectCommand":
            case "OptimizedCreateHiveTableAsSelectCommand":
                table = Names.call(node, "tableDesc");
                Object m = Names.call(node, "mode");
                mode = m instanceof org.apache.spark.sql.SaveMode ? ((org.apache.spark.sql.SaveMode) m).name() : null;
                break;
            default:
                return null;
        }
        Object query = Names.call(node, "query");
        if (!(table instanceof CatalogTable) || !(query instanceof LogicalPlan)) {
            return null;
        }
        LogicalPlan q = (LogicalPlan) query;
        return new PlanVisitors.Write(DatasetNaming.catalogTable((CatalogTable) table, config, Names.fields(q.schema())), q, mode,
                simple);
    }
}
