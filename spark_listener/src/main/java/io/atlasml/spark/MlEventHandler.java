package io.atlasml.spark;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.spark.ml.Estimator;
import org.apache.spark.ml.FitEnd;
import org.apache.spark.ml.FitStart;
import org.apache.spark.ml.MLEvent;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.SaveInstanceEnd;
import org.apache.spark.ml.param.ParamPair;
import org.apache.spark.ml.param.Params;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.sql.Dataset;

/**
 * Spark ML's events (package org.apache.spark.ml; posted by the JVM {@code Pipeline}, {@code PipelineModel}
 * and their writers, delivered to {@code SparkListener.onOtherEvent}) as a training run:
 * <ul>
 *   <li>FitStart -> START of run R (job {@code <app>.fit.<estimator uid>}), inputs = the fit dataset's plan
 *       leaves, atlasMl facet = estimator class, uid, params (and the stages of a Pipeline);</li>
 *   <li>FitEnd -> COMPLETE of run R with the model's uid;</li>
 *   <li>SaveInstanceEnd of a fitted model -> COMPLETE of a run of the same job whose output is the model path,
 *       with the same inputs, so the plugin records data -> training run -> model.</li>
 * </ul>
 */
final class MlEventHandler {
    private static final int MAX_PARAM = 500;
    private final AtlasRuntime runtime;
    /** Estimators whose fit has started and not ended: a fit inside another one is a stage of a Pipeline. */
    private final java.util.Deque<String> active = new java.util.ArrayDeque<>();

    MlEventHandler(AtlasRuntime runtime) {
        this.runtime = runtime;
    }

    void handle(MLEvent event, String appId, String appName) {
        if (event instanceof FitStart) {
            FitStart<?> e = (FitStart<?>) event;
            fitStart(e.estimator(), e.dataset(), appId, appName);
        } else if (event instanceof FitEnd) {
            FitEnd<?> e = (FitEnd<?>) event;
            fitEnd(e.estimator(), e.model(), appId, appName);
        } else if (event instanceof SaveInstanceEnd) {
            SaveInstanceEnd e = (SaveInstanceEnd) event;
            saveEnd(e.path(), e.writer(), appId, appName);
        }
    }

    private void fitStart(Estimator<?> estimator, Dataset<?> dataset, String appId, String appName) {
        if (estimator == null) {
            return;
        }
        PlanExtractor.Facts reads = dataset != null ? runtime.extractor.readsOf(dataset.queryExecution().analyzed())
                : new PlanExtractor.Facts();
        if (!reads.unresolved.isEmpty()) {
            runtime.warnUnresolved(estimator.getClass().getSimpleName() + ".fit", reads.unresolved);
        }
        String uid = estimator.uid();
        UUID runId = LineageRecord.stableRunId(String.valueOf(appId), "fit", uid);
        String job = jobName(appName, uid);
        Map<String, Object> ml = describe(estimator);
        AtlasRuntime.MlRun parent;
        synchronized (active) {
            parent = runtime.fitOf(active.peek());
            active.push(uid);
            while (active.size() > 100) {
                active.removeLast();
            }
        }
        AtlasRuntime.MlRun run = new AtlasRuntime.MlRun(runId, job, reads, ml, parent);
        runtime.rememberFit(uid, run);
        LineageRecord r = record(LineageRecord.EventType.START, run, appId, appName, ml);
        r.startTimeMs = r.eventTimeMs;
        runtime.submit(r);
    }

    private void fitEnd(Estimator<?> estimator, Object model, String appId, String appName) {
        if (estimator == null) {
            return;
        }
        synchronized (active) {
            active.removeFirstOccurrence(estimator.uid());
        }
        AtlasRuntime.MlRun run = runtime.fitOf(estimator.uid());
        if (run == null) {
            return;
        }
        Map<String, Object> ml = new LinkedHashMap<>(run.ml);
        if (model instanceof Identifiable) {
            String modelUid = ((Identifiable) model).uid();
            ml.put("modelUid", modelUid);
            ml.put("modelClass", model.getClass().getName());
            runtime.rememberFit("model:" + modelUid, new AtlasRuntime.MlRun(run.runId, run.jobName, run.reads(), ml,
                    run.parent));
        }
        LineageRecord r = record(LineageRecord.EventType.COMPLETE, run, appId, appName, ml);
        r.endTimeMs = r.eventTimeMs;
        runtime.submit(r);
    }

    private void saveEnd(String path, Object writer, String appId, String appName) {
        String uid = instanceUid(writer);
        AtlasRuntime.MlRun run = uid == null ? null : runtime.fitOf("model:" + uid);
        if (run == null || path == null) {
            return; // an estimator, or a model loaded from disk: no training run to attach it to
        }
        DatasetRef model = DatasetNaming.path(path, "spark-ml", null); // relative: as Spark's writer resolves it
        Map<String, Object> ml = new LinkedHashMap<>(run.ml);
        ml.put("modelPath", model.sourceUri);
        ml.put("trainingRunId", run.runId.toString());
        UUID saveRun = LineageRecord.stableRunId(run.runId.toString(), "save", model.sourceUri);
        LineageRecord r = record(LineageRecord.EventType.COMPLETE, run, appId, appName, ml);
        r.runId = saveRun;
        r.outputs.add(model);
        r.saveMode = "Overwrite".equalsIgnoreCase(String.valueOf(Names.call(writer, "shouldOverwrite")))
                ? "Overwrite" : null;
        r.command = "SaveInstanceEnd";
        runtime.submit(r);
    }

    private LineageRecord record(LineageRecord.EventType type, AtlasRuntime.MlRun run, String appId, String appName,
                                 Map<String, Object> ml) {
        LineageRecord r = new LineageRecord();
        r.eventType = type;
        r.runId = run.runId;
        r.jobName = run.jobName;
        if (run.parent != null) {
            r.parentRunId = run.parent.runId;
            r.parentJobName = run.parent.jobName;
        }
        r.applicationId = appId;
        r.applicationName = appName;
        r.user = currentUser();
        r.eventTimeMs = System.currentTimeMillis();
        r.command = type == LineageRecord.EventType.START ? "FitStart" : "FitEnd";
        r.inputs.addAll(run.inputs);
        r.unresolvedInputs.addAll(run.unresolvedInputs);
        r.ml = ml;
        return r;
    }

    /** "<app>.fit.<estimator uid>", its parts scrubbed before jobSafe folds "=" and spaces into "_". */
    static String jobName(String appName, String estimatorUid) {
        String app = appName == null || appName.isBlank() ? "spark" : Names.jobSafe(Scrubber.scrubName(appName));
        return app + ".fit." + Names.jobSafe(Scrubber.scrubName(String.valueOf(estimatorUid)));
    }

    /** Estimator class, uid and explicitly set / default params (stringified); a Pipeline's stages likewise. */
    static Map<String, Object> describe(Params estimator) {
        Map<String, Object> ml = new LinkedHashMap<>();
        ml.put("framework", "spark-ml");
        ml.put("estimatorClass", estimator.getClass().getName());
        ml.put("estimatorUid", estimator.uid());
        ml.put("params", params(estimator));
        if (estimator instanceof Pipeline) {
            List<Map<String, Object>> stages = new ArrayList<>();
            PipelineStage[] all = ((Pipeline) estimator).getStages();
            for (PipelineStage stage : all == null ? new PipelineStage[0] : all) {
                Map<String, Object> s = new LinkedHashMap<>();
                s.put("class", stage.getClass().getName());
                s.put("uid", stage.uid());
                s.put("params", params(stage));
                stages.add(s);
            }
            ml.put("stages", stages);
        }
        return ml;
    }

    static Map<String, String> params(Params p) {
        Map<String, String> out = new LinkedHashMap<>();
        for (ParamPair<?> pair : ScalaInterop.<ParamPair<?>>list(p.extractParamMap().toSeq())) {
            String name = pair.param().name();
            if (name.equals("stages") || Scrubber.isSecretKey(name)) {
                continue;
            }
            out.put(name, stringify(pair.value()));
        }
        return out;
    }

    static String stringify(Object v) {
        String s;
        if (v instanceof Object[]) {
            s = Arrays.deepToString((Object[]) v);
        } else if (v instanceof double[]) {
            s = Arrays.toString((double[]) v);
        } else if (v instanceof int[]) {
            s = Arrays.toString((int[]) v);
        } else if (v instanceof long[]) {
            s = Arrays.toString((long[]) v);
        } else if (v instanceof boolean[]) {
            s = Arrays.toString((boolean[]) v);
        } else if (v instanceof Identifiable) {
            s = ((Identifiable) v).uid();
        } else {
            s = String.valueOf(v);
        }
        // scrubbed before it is cut: a cut can split "user:pw@host" so that no rule recognises what is left
        s = Scrubber.scrubText(s.length() > 8 * MAX_PARAM ? s.substring(0, 8 * MAX_PARAM) : s);
        return s.length() > MAX_PARAM ? s.substring(0, MAX_PARAM) + "..." : s;
    }

    /** The uid of the instance an MLWriter writes (its "instance" field, whatever the writer class). */
    static String instanceUid(Object writer) {
        for (Class<?> c = writer == null ? null : writer.getClass(); c != null && c != Object.class;
             c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (!Identifiable.class.isAssignableFrom(f.getType()) && !f.getName().equals("instance")) {
                    continue;
                }
                try {
                    f.setAccessible(true);
                    Object v = f.get(writer);
                    if (v instanceof Identifiable) {
                        return ((Identifiable) v).uid();
                    }
                } catch (ReflectiveOperationException | RuntimeException e) {
                    // not readable: try the next field
                }
            }
        }
        return null;
    }

    private static String currentUser() {
        try {
            return org.apache.spark.util.Utils.getCurrentUserName();
        } catch (Throwable t) {
            return System.getProperty("user.name");
        }
    }
}
