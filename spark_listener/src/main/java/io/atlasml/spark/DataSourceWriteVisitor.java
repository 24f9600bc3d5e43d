package io.atlasml.spark;

import java.util.List;
import java.util.Map;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.execution.datasources.SaveIntoDataSourceCommand;
import org.apache.spark.sql.sources.DataSourceRegister;

/**
 * {@code SaveIntoDataSourceCommand}: df.write.format(...).save() for V1 relation providers, JDBC above all
 * (namespace = the URL without credentials, name = dbtable). Also {@code InsertIntoDataSourceCommand}
 * (INSERT INTO a table backed by such a relation).
 */
final class DataSourceWriteVisitor implements PlanVisitors.WriteVisitor {
    private final LogicalRelationVisitor relations = new LogicalRelationVisitor();

    @Override
    public PlanVisitors.Write visit(LogicalPlan node, AtlasConfig config) {
        if (node instanceof SaveIntoDataSourceCommand) {
            SaveIntoDataSourceCommand cmd = (SaveIntoDataSourceCommand) node;
            Map<String, String> options = lowerKeys(ScalaInterop.map(cmd.options()));
            Scrubber.rememberSecrets(options);
            LogicalPlan query = cmd.query();
            List<DatasetRef.Field> fields = Names.fields(query.schema());
            String provider = cmd.dataSource() instanceof DataSourceRegister
                    ? ((DataSourceRegister) cmd.dataSource()).shortName() : cmd.dataSource().getClass().getName();
            DatasetRef out;
            if (options.containsKey("url") && (provider.equals("jdbc") || options.get("url").startsWith("jdbc:"))) {
                String table = options.getOrDefault("dbtable", options.get("query"));
                out = DatasetNaming.jdbc(options.get("url"), table, fields);
            } else if (options.containsKey("path")) {
                out = DatasetNaming.path(options.get("path"), provider, fields);
            } else {
                String name = options.getOrDefault("table", options.getOrDefault("dbtable", "unknown"));
                out = new DatasetRef(provider, name, provider, provider, fields, null);
            }
            return new PlanVisitors.Write(out, query, cmd.mode().name(), "SaveIntoDataSourceCommand");
        }
        if (node.getClass().getName().equals("org.apache.spark.sql.execution.datasources.InsertIntoDataSourceCommand")) {
            Object target = Names.call(node, "logicalRelation");
            Object query = Names.call(node, "query");
            Object overwrite = Names.call(node, "overwrite");
            if (target instanceof LogicalPlan && query instanceof LogicalPlan) {
                List<DatasetRef> outs = relations.visit((LogicalPlan) target, config);
                if (outs != null && !outs.isEmpty()) {
                    return new PlanVisitors.Write(outs.get(0), (LogicalPlan) query,
                            Boolean.TRUE.equals(overwrite) ? "Overwrite" : "Append", "InsertIntoDataSourceCommand");
                }
            }
        }
        return null;
    }

    private static Map<String, String> lowerKeys(Map<String, String> in) {
        Map<String, String> out = new java.util.LinkedHashMap<>();
        in.forEach((k, v) -> out.put(k.toLowerCase(java.util.Locale.ROOT), v));
        return out;
    }
}
