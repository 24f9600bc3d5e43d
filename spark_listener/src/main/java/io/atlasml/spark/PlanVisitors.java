package io.atlasml.spark;

import java.util.List;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;

/** The two kinds of plan visitors: one class per plan node type implements one of these. */
final class PlanVisitors {
    private PlanVisitors() {
    }

    /** What a write node writes: the output, the query it writes, the save mode. */
    static final class Write {
        final DatasetRef output;
        final LogicalPlan query;
        final String saveMode;
        final String command;

        Write(DatasetRef output, LogicalPlan query, String saveMode, String command) {
            this.output = output;
            this.query = query;
            this.saveMode = saveMode;
            this.command = command;
        }
    }

    /** A write command node: returns null when the node is not of its type. */
    interface WriteVisitor {
        Write visit(LogicalPlan node, AtlasConfig config);
    }

    /** A leaf that reads data: returns null when the node is not of its type. */
    interface InputVisitor {
        List<DatasetRef> visit(LogicalPlan node, AtlasConfig config);
    }
}
