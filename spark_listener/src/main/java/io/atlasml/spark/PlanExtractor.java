package io.atlasml.spark;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;

/**
 * Finds, in an analyzed logical plan, the dataset it writes (one visitor per write node type) and the datasets
 * it reads (one visitor per leaf type, also inside subqueries). Only identifiers and schemas are taken: no plan
 * text, no data. Runs on Spark's listener thread, so it is a single bounded walk of the tree.
 *
 * A leaf that reads data no visitor can name (a checkpointed or RDD-based DataFrame, in-memory rows, a source
 * we do not know) is reported as unresolved, never dropped: the plugin marks what such a job writes as having
 * incomplete lineage instead of letting it look clean. Leaves that generate rows (range, SELECT 1) read nothing.
 */
public final class PlanExtractor {
    private static final int MAX_NODES = 10_000;
    /** Leaves that produce rows without reading any data: nothing to name, nothing missing. */
    static final Set<String> GENERATED_LEAVES = Set.of("Range", "OneRowRelation");
    /** Leaves whose data Spark itself cannot trace back to a source (the same words as the Python autolog). */
    static final Map<String, String> UNTRACEABLE_LEAVES = Map.of(
            "LogicalRDD", "a checkpointed or RDD-based DataFrame (Spark keeps no link to where its rows came from)",
            "ExternalRDD", "a DataFrame made from an RDD (Spark keeps no link to where its rows came from)",
            "LocalRelation", "in-memory rows (e.g. createDataFrame from local data)");

    /** The facts of one plan. */
    public static final class Facts {
        public final List<DatasetRef> inputs = new ArrayList<>();
        public final List<DatasetRef> outputs = new ArrayList<>();
        /** Leaves that read data no visitor could name: "Kind: why", sorted, without duplicates. */
        public final List<String> unresolved = new ArrayList<>();
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
        Set<String> unresolved = new TreeSet<>();
        if (write != null) {
            facts.outputs.add(write.output);
            facts.saveMode = write.saveMode;
            facts.command = write.command;
            collectInputs(write.query, inputs, unresolved, new IdentityHashMap<>());
            inputs.remove(write.output.key()); // reading and overwriting the same table is still one write
        } else if (config.captureReads) {
            facts.command = plan.getClass().getSimpleName();
            collectInputs(plan, inputs, unresolved, new IdentityHashMap<>());
        }
        facts.inputs.addAll(inputs.values());
        facts.unresolved.addAll(unresolved);
        return facts;
    }

    /** The datasets a plan reads and the leaves no one can name (e.g. the DataFrame an estimator is fitted on). */
    public Facts readsOf(LogicalPlan plan) {
        Facts facts = new Facts();
        Map<String, DatasetRef> inputs = new LinkedHashMap<>();
        Set<String> unresolved = new TreeSet<>();
        if (plan != null) {
            collectInputs(plan, inputs, unresolved, new IdentityHashMap<>());
        }
        facts.inputs.addAll(inputs.values());
        facts.unresolved.addAll(unresolved);
        return facts;
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

    private void collectInputs(LogicalPlan plan, Map<String, DatasetRef> out, Set<String> unresolved,
                               IdentityHashMap<Object, Boolean> seen) {
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
            if (next.isEmpty()) {
                String why = unresolvedLeaf(node);
                if (why != null) {
                    unresolved.add(why);
                }
            }
            try {
                next.addAll(ScalaInterop.list(node.subqueries()));
            } catch (RuntimeException e) {
                // an unresolved expression: no subqueries to follow
            }
            java.util.Collections.reverse(next); // a stack: the first child is visited first
            todo.addAll(next);
        }
    }

    /** Why a leaf no visitor named hides a source ("Kind: why"), or null for a leaf that reads nothing. */
    static String unresolvedLeaf(LogicalPlan leaf) {
        String kind = leaf.getClass().getSimpleName().isEmpty() ? leaf.getClass().getName()
                : leaf.getClass().getSimpleName();
        if (GENERATED_LEAVES.contains(kind)) {
            return null;
        }
        String why = UNTRACEABLE_LEAVES.get(kind);
        return kind + ": " + (why != null ? why : "a plan leaf the capture does not know");
    }
}
