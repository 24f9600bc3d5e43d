package io.atlasml.spark;

import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.catalyst.catalog.CatalogTable;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.execution.datasources.HadoopFsRelation;
import org.apache.spark.sql.execution.datasources.LogicalRelation;
import org.apache.spark.sql.execution.datasources.jdbc.JDBCOptions;
import org.apache.spark.sql.execution.datasources.jdbc.JDBCRelation;
import org.apache.spark.sql.sources.BaseRelation;

/**
 * {@code LogicalRelation} leaves: file sources ({@code HadoopFsRelation}: one dataset per root path, with its
 * format), JDBC ({@code JDBCRelation}), and catalog tables over either.
 */
final class LogicalRelationVisitor implements PlanVisitors.InputVisitor {
    @Override
    public List<DatasetRef> visit(LogicalPlan node, AtlasConfig config) {
        if (!(node instanceof LogicalRelation)) {
            return null;
        }
        LogicalRelation lr = (LogicalRelation) node;
        BaseRelation relation = lr.relation();
        List<DatasetRef.Field> fields = Names.fields(relation.schema());
        List<DatasetRef> out = new ArrayList<>();
        if (relation instanceof JDBCRelation) {
            JDBCOptions options = ((JDBCRelation) relation).jdbcOptions();
            java.util.Properties props = options.asProperties();
            java.util.Map<String, String> asMap = new java.util.HashMap<>();
            for (String key : props.stringPropertyNames()) {
                asMap.put(key, props.getProperty(key));
            }
            Scrubber.rememberSecrets(asMap);
            out.add(DatasetNaming.jdbc(options.url(), options.tableOrQuery(), fields));
            return out;
        }
        CatalogTable table = ScalaInterop.option(lr.catalogTable());
        if (table != null) {
            out.add(DatasetNaming.catalogTable(table, config, fields));
            return out;
        }
        if (relation instanceof HadoopFsRelation) {
            HadoopFsRelation fs = (HadoopFsRelation) relation;
            Scrubber.rememberSecrets(ScalaInterop.map(fs.options()));
            String format = Names.format(fs.fileFormat());
            for (Path p : ScalaInterop.<Path>list(fs.location().rootPaths())) {
                out.add(DatasetNaming.path(p.toString(), format, fields));
            }
            return out;
        }
        // another V1 relation: name it by its class, so that it is at least visible
        String kind = relation.getClass().getName();
        out.add(new DatasetRef("spark", kind, "spark", null, fields, null));
        return out;
    }
}
