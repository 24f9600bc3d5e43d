package io.atlasml.spark;

import org.apache.spark.sql.catalyst.catalog.CatalogTable;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.execution.datasources.InsertIntoHadoopFsRelationCommand;

/** {@code InsertIntoHadoopFsRelationCommand}: df.write.parquet/csv/..., INSERT into a file-based table. */
final class FileWriteVisitor implements PlanVisitors.WriteVisitor {
    @Override
    public PlanVisitors.Write visit(LogicalPlan node, AtlasConfig config) {
        if (!(node instanceof InsertIntoHadoopFsRelationCommand)) {
            return null;
        }
        InsertIntoHadoopFsRelationCommand cmd = (InsertIntoHadoopFsRelationCommand) node;
        Scrubber.rememberSecrets(ScalaInterop.map(cmd.options()));
        LogicalPlan query = cmd.query();
        CatalogTable table = ScalaInterop.option(cmd.catalogTable());
        String format = Names.format(cmd.fileFormat());
        DatasetRef out = table != null
                ? DatasetNaming.catalogTable(table, config, Names.fields(query.schema()))
                : DatasetNaming.path(cmd.outputPath().toString(), format, Names.fields(query.schema()));
        return new PlanVisitors.Write(out, query, cmd.mode().name(), "InsertIntoHadoopFsRelationCommand");
    }
}
