package io.atlasml.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.execution.QueryExecution;
import org.apache.spark.sql.util.QueryExecutionListener;

/**
 * {@code spark.sql.queryExecutionListeners=io.atlasml.spark.AtlasQueryListener}: one OpenLineage COMPLETE or
 * FAIL event per SQL execution that writes (and, with spark.atlas.captureReads=true, per read-only one).
 * On Spark's listener thread it only walks the analyzed plan for dataset identifiers and hands a small record
 * to the dispatcher; it never throws into Spark.
 */
public class AtlasQueryListener implements QueryExecutionListener {
    private final AtlasRuntime runtime;

    public AtlasQueryListener(SparkConf conf) {
        this.runtime = AtlasRuntime.get(conf);
    }

    public AtlasQueryListener() {
        this(org.apache.spark.SparkEnv.get() != null ? org.apache.spark.SparkEnv.get().conf() : new SparkConf());
    }

    @Override
    public void onSuccess(String funcName, QueryExecution qe, long durationNs) {
        capture(funcName, qe, durationNs, null);
    }

    @Override
    public void onFailure(String funcName, QueryExecution qe, Exception exception) {
        capture(funcName, qe, -1, exception);
    }

    private void capture(String funcName, QueryExecution qe, long durationNs, Exception error) {
        try {
            if (!runtime.config.enabled || qe == null) {
                return;
            }
            long now = System.currentTimeMillis();
            LogicalPlan plan;
            try {
                plan = qe.analyzed();
            } catch (RuntimeException analysisFailed) {
                return; // nothing was read or written: no lineage
            }
            PlanExtractor.Facts facts = runtime.extractor.extract(plan);
            if (facts.outputs.isEmpty() && (!runtime.config.captureReads || facts.inputs.isEmpty())) {
                return;
            }
            LineageRecord r = new LineageRecord();
            SparkContext sc = qe.sparkSession().sparkContext();
            r.applicationId = sc.applicationId();
            r.applicationName = sc.appName();
            r.user = sc.sparkUser();
            Long executionId = runtime.executionIdOf(qe);
            r.executionId = executionId != null ? String.valueOf(executionId) : "q" + qe.id();
            r.runId = LineageRecord.stableRunId(r.applicationId, "sql", r.executionId);
            r.eventType = error == null ? LineageRecord.EventType.COMPLETE : LineageRecord.EventType.FAIL;
            r.eventTimeMs = now;
            r.endTimeMs = now;
            if (durationNs >= 0) {
                r.startTimeMs = now - durationNs / 1_000_000L;
            }
            r.command = facts.command != null ? facts.command : funcName;
            r.saveMode = facts.saveMode;
            r.inputs.addAll(facts.inputs);
            r.outputs.addAll(facts.outputs);
            r.unresolvedInputs.addAll(facts.unresolved);
            if (!facts.unresolved.isEmpty()) {
                runtime.warnUnresolved("SQL execution " + r.executionId + " (" + r.command + ")", facts.unresolved);
            }
            r.jobName = jobName(r.applicationName, facts, r.executionId);
            if (error != null) {
                Throwable root = error;
                while (root.getCause() != null && root.getCause() != root) {
                    root = root.getCause();
                }
                r.errorClass = error.getClass().getName();
                String msg = error.getMessage();
                if (root != error && root.getMessage() != null) {
                    msg = msg + " (caused by " + root.getClass().getName() + ": " + root.getMessage() + ")";
                }
                r.errorMessage = msg;
            }
            runtime.submit(r);
        } catch (Throwable t) {
            runtime.captureFailed("AtlasQueryListener", t);
        }
    }

    /**
     * "<app>.<command>.<output>" so that one job stays one Atlas process however often it runs. The parts are
     * scrubbed before jobSafe folds "=" and spaces into "_", after which "password=x" is no longer recognisable.
     */
    static String jobName(String appName, PlanExtractor.Facts facts, String executionId) {
        String app = appName == null || appName.isBlank() ? "spark" : Names.jobSafe(Scrubber.scrubName(appName));
        if (!facts.outputs.isEmpty()) {
            String command = facts.command == null ? "write" : Names.snake(facts.command);
            return app + "." + command + "." + Names.jobSafe(facts.outputs.get(0).name); // DatasetRef: scrubbed
        }
        return app + ".execution-" + Names.jobSafe(Scrubber.scrubName(executionId));
    }
}
