package io.atlasml.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerApplicationEnd;
import org.apache.spark.scheduler.SparkListenerApplicationStart;
import org.apache.spark.scheduler.SparkListenerEvent;
import org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd;

/**
 * {@code spark.extraListeners=io.atlasml.spark.AtlasSparkListener}: Spark ML's fit and save events
 * ({@link MlEventHandler}), the SQL execution ids of query executions, and a bounded flush at application end.
 */
public class AtlasSparkListener extends SparkListener {
    private final AtlasRuntime runtime;
    private final MlEventHandler ml;
    private volatile String appId;
    private volatile String appName;

    public AtlasSparkListener(SparkConf conf) {
        this.runtime = AtlasRuntime.get(conf);
        this.ml = new MlEventHandler(runtime);
        this.appId = conf.getOption("spark.app.id").isDefined() ? conf.get("spark.app.id") : null;
        this.appName = conf.get("spark.app.name", "spark");
    }

    public AtlasSparkListener() {
        this(org.apache.spark.SparkEnv.get() != null ? org.apache.spark.SparkEnv.get().conf() : new SparkConf());
    }

    @Override
    public void onApplicationStart(SparkListenerApplicationStart event) {
        try {
            appName = event.appName();
            String id = ScalaInterop.option(event.appId());
            if (id != null) {
                appId = id;
            }
        } catch (Throwable t) {
            runtime.captureFailed("onApplicationStart", t);
        }
    }

    @Override
    public void onOtherEvent(SparkListenerEvent event) {
        try {
            if (event instanceof SparkListenerSQLExecutionEnd) {
                SparkListenerSQLExecutionEnd end = (SparkListenerSQLExecutionEnd) event;
                runtime.rememberExecution(end.qe(), end.executionId());
            } else if (event instanceof org.apache.spark.ml.MLEvent) {
                ml.handle((org.apache.spark.ml.MLEvent) event, appId, appName);
            }
        } catch (Throwable t) {
            runtime.captureFailed("onOtherEvent", t);
        }
    }

    @Override
    public void onApplicationEnd(SparkListenerApplicationEnd event) {
        try {
            runtime.close();
        } catch (Throwable t) {
            runtime.captureFailed("onApplicationEnd", t);
        }
    }
}
