package io.atlasml.spark;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;

/**
 * Finds, in an analyzed logical plan, the dataset it writes (one visitor per write node type) and the datasets
 * it reads (one visitor per leaf type, also inside subqueries). Only identifiers and schemas are taken: no plan
 * text, no data. Runs on Spark's listener thread, so it is a single bounded walk of the tree.
 */
public final class PlanExtractor {
    private static final int MAX_NODES = 10_000;

    /** The facts of one plan. */
    public static final class Facts {
        public final List<DatasetRef> inputs = new ArrayList<>();
        public final List<DatasetRef> outputs = new ArrayList<>();
        public String saveMode;
        public String command;
    }

    private final AtlasConfig config;
    private final List<PlanVisitors.WriteVisitor> writes = List.of(new FileWriteVisitor(),
            new DataSourceWriteVisitor(), new CreateTableAsSelectVisitor(), new HiveWriteVisitor(),
            new V2WriteVisitor());
    private final List<PlanVisitors.InputVisitor> reads = List.of(new LogicalRelationVisitor(),
            new HiveTableRelationVisitor(), new DataSourceV2RelationVisitor());

    public PlanExtractor(AtlasConfig config) {
        this.config = config;
    }

    public Facts extract(LogicalPlan plan) {
        Facts facts = new Facts();
        if (plan == null) {
            return facts;
        }
        PlanVisitors.Write write = findWrite(plan);
        Map<String, DatasetRef> inputs = new LinkedHashMap<>();
        if (write != null) {
            facts.outputs.add(write.output);
            facts.saveMode = write.saveMode;
            facts.command = write.command;
            collectInputs(write.query, inputs, new IdentityHashMap<>());
            inputs.remove(write.output.key()); // reading and overwriting the same table is still one write
        } else if (config.captureReads) {
            facts.command = plan.getClass().getSimpleName();
            collectInputs(plan, inputs, new IdentityHashMap<>());
        }
        facts.inputs.addAll(inputs.values());
        return facts;
    }

    /** The datasets a plan reads (e.g. the DataFrame an estimator is fitted on). */
    public List<DatasetRef> inputsOf(LogicalPlan plan) {
        Map<String, DatasetRef> inputs = new LinkedHashMap<>();
        if (plan != null) {
            collectInputs(plan, inputs, new IdentityHashMap<>());
        }
        return new ArrayList<>(inputs.values());
    }

    /** The write node: the root itself, or the first write found under wrapping nodes. */
    private PlanVisitors.Write findWrite(LogicalPlan plan) {
        List<LogicalPlan> todo = new ArrayList<>();
        todo.add(plan);
        int seen = 0;
        while (!todo.isEmpty() && seen++ < 50) {
            LogicalPlan node = todo.remove(0);
            for (PlanVisitors.WriteVisitor v : writes) {
                PlanVisitors.Write w = v.visit(node, config);
                if (w != null) {
                    return w;
                }
            }
            todo.addAll(ScalaInterop.list(node.children()));
        }
        return null;
    }

    private void collectInputs(LogicalPlan plan, Map<String, DatasetRef> out, IdentityHashMap<Object, Boolean> seen) {
        List<LogicalPlan> todo = new ArrayList<>();
        todo.add(plan);
        while (!todo.isEmpty() && seen.size() < MAX_NODES) {
            LogicalPlan node = todo.remove(todo.size() - 1);
            if (node == null || seen.put(node, Boolean.TRUE) != null) {
                continue;
            }
            List<DatasetRef> found = null;
            for (PlanVisitors.InputVisitor v : reads) {
                found = v.visit(node, config);
                if (found != null) {
                    break;
                }
            }
            if (found != null) {
                for (DatasetRef d : found) {
                    out.putIfAbsent(d.key(), d);
                }
                continue;
            }
            List<LogicalPlan> next = new ArrayList<>(ScalaInterop.list(node.children()));
            try {
                next.addAll(ScalaInterop.list(node.subqueries()));
            } catch (RuntimeException e) {
                // an unresolved expression: no subqueries to follow
            }
            java.util.Collections.reverse(next); // a stack: the first child is visited first
            todo.addAll(next);
        }
    }
}
