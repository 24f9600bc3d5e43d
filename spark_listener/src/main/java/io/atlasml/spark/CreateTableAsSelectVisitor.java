package io.atlasml.spark;

import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.execution.command.CreateDataSourceTableAsSelectCommand;

/**
 * {@code CreateDataSourceTableAsSelectCommand} (CREATE TABLE ... USING ... AS SELECT, saveAsTable) and the
 * DataSource V2 {@code CreateTableAsSelect} / {@code ReplaceTableAsSelect} (read by name: their fields differ
 * between Spark versions).
 */
final class CreateTableAsSelectVisitor implements PlanVisitors.WriteVisitor {
    @Override
    public PlanVisitors.Write visit(LogicalPlan node, AtlasConfig config) {
        if (node instanceof CreateDataSourceTableAsSelectCommand) {
            CreateDataSourceTableAsSelectCommand cmd = (CreateDataSourceTableAsSelectCommand) node;
            LogicalPlan query = cmd.query();
            return new PlanVisitors.Write(DatasetNaming.catalogTable(cmd.table(), config, Names.fields(query.schema())), query,
                    cmd.mode().name(), "CreateDataSourceTableAsSelectCommand");
        }
        String cls = node.getClass().getName();
        boolean create = cls.equals("org.apache.spark.sql.catalyst.plans.logical.CreateTableAsSelect");
        boolean replace = cls.equals("org.apache.spark.sql.catalyst.plans.logical.ReplaceTableAsSelect");
        if (!create && !replace) {
            return null;
        }
        Object name = Names.call(node, "name");
        Object query = Names.call(node, "query");
        if (name == null || !(query instanceof LogicalPlan)) {
            return null;
        }
        Object catalog = Names.call(name, "catalog");
        Object ident = Names.call(name, "identifier");
        if (!(ident instanceof org.apache.spark.sql.connector.catalog.Identifier)) {
            return null;
        }
        String catalogName = catalog instanceof org.apache.spark.sql.connector.catalog.CatalogPlugin
                ? ((org.apache.spark.sql.connector.catalog.CatalogPlugin) catalog).name() : null;
        DatasetRef out = DataSourceV2RelationVisitor.tableRef(config, catalogName,
                (org.apache.spark.sql.connector.catalog.Identifier) ident, null, null,
                Names.fields(((LogicalPlan) query).schema()));
        return new PlanVisitors.Write(out, (LogicalPlan) query, create ? "ErrorIfExists" : "Overwrite",
                create ? "CreateTableAsSelect" : "ReplaceTableAsSelect");
    }
}
