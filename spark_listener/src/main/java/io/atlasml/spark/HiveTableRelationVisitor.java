package io.atlasml.spark;

import java.util.List;
import org.apache.spark.sql.catalyst.catalog.HiveTableRelation;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;

/** {@code HiveTableRelation} leaves: Hive tables not converted to a file source. */
final class HiveTableRelationVisitor implements PlanVisitors.InputVisitor {
    @Override
    public List<DatasetRef> visit(LogicalPlan node, AtlasConfig config) {
        if (!(node instanceof HiveTableRelation)) {
            return null;
        }
        return List.of(DatasetNaming.catalogTable(((HiveTableRelation) node).tableMeta(), config, null));
    }
}
