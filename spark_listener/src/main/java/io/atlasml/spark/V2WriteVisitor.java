package io.atlasml.spark;

import java.util.List;
import org.apache.spark.sql.catalyst.plans.logical.AppendData;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.OverwriteByExpression;
import org.apache.spark.sql.catalyst.plans.logical.OverwritePartitionsDynamic;
import org.apache.spark.sql.catalyst.plans.logical.V2WriteCommand;
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation;

/** DataSource V2 writes: {@code AppendData}, {@code OverwriteByExpression}, {@code OverwritePartitionsDynamic}. */
final class V2WriteVisitor implements PlanVisitors.WriteVisitor {
    private final DataSourceV2RelationVisitor relations = new DataSourceV2RelationVisitor();

    @Override
    public PlanVisitors.Write visit(LogicalPlan node, AtlasConfig config) {
        if (!(node instanceof V2WriteCommand)) {
            return null;
        }
        V2WriteCommand cmd = (V2WriteCommand) node;
        String mode = node instanceof AppendData ? "Append"
                : node instanceof OverwriteByExpression ? "Overwrite"
                : node instanceof OverwritePartitionsDynamic ? "OverwritePartitions" : null;
        Object table = cmd.table();
        if (!(table instanceof DataSourceV2Relation)) {
            return null;
        }
        List<DatasetRef> outs = relations.visit((DataSourceV2Relation) table, config);
        if (outs == null || outs.isEmpty()) {
            return null;
        }
        LogicalPlan query = cmd.query();
        DatasetRef out = outs.get(0).withFields(Names.fields(query.schema()));
        return new PlanVisitors.Write(out, query, mode, node.getClass().getSimpleName());
    }
}
