package io.atlasml.spark;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the two listeners share in one JVM: the settings, the dispatcher and its transport, and small bounded
 * maps that relate Spark's events to each other (query execution -> SQL execution id; fitted model -> its
 * training run). Created by whichever listener Spark instantiates first; closed at application end (bounded
 * flush), with a JVM shutdown hook as the last resort.
 */
public final class AtlasRuntime {
    private static final ScrubbedLogger LOG = ScrubbedLogger.of(AtlasRuntime.class);
    private static AtlasRuntime current;

    public final AtlasConfig config;
    public final Dispatcher dispatcher;
    public final PlanExtractor extractor;
    public final EventBuilder builder;
    private final Map<Object, Long> executionIds = Collections.synchronizedMap(new WeakHashMap<>());
    private final Map<String, MlRun> fits = Collections.synchronizedMap(new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, MlRun> eldest) {
            return size() > 200;
        }
    });
    private final AtomicLong captureErrors = new AtomicLong();
    private final java.util.Set<String> warnedUnresolved = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    /** A training run seen at FitStart/FitEnd, kept so that a later model save can name its inputs. */
    static final class MlRun {
        final java.util.UUID runId;
        final String jobName;
        final java.util.List<DatasetRef> inputs;
        final java.util.List<String> unresolvedInputs;
        final Map<String, Object> ml;
        final MlRun parent;

        MlRun(java.util.UUID runId, String jobName, PlanExtractor.Facts reads, Map<String, Object> ml, MlRun parent) {
            this.runId = runId;
            this.jobName = jobName;
            this.inputs = reads.inputs;
            this.unresolvedInputs = reads.unresolved;
            this.ml = ml;
            this.parent = parent;
        }

        PlanExtractor.Facts reads() {
            PlanExtractor.Facts facts = new PlanExtractor.Facts();
            facts.inputs.addAll(inputs);
            facts.unresolved.addAll(unresolvedInputs);
            return facts;
        }
    }

    private AtlasRuntime(AtlasConfig config) {
        this.config = config;
        this.extractor = new PlanExtractor(config);
        this.builder = new EventBuilder(config.namespace, sparkVersion());
        this.dispatcher = new Dispatcher(config.queueSize, builder::toJson, Transport.create(config));
        try {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> close(), "atlas-ml-lineage-flush"));
        } catch (IllegalStateException e) {
            // the JVM is already shutting down
        }
        LOG.info("atlas-ml: lineage listener on, {}", config);
    }

    /** The JVM's runtime, created from this SparkConf when there is none (or the last one was closed). */
    public static synchronized AtlasRuntime get(org.apache.spark.SparkConf conf) {
        if (current == null || current.closed) {
            current = new AtlasRuntime(AtlasConfig.fromSparkConf(conf));
        }
        return current;
    }

    static synchronized AtlasRuntime forTests(AtlasConfig config) {
        return new AtlasRuntime(config);
    }

    public void submit(LineageRecord record) {
        if (config.enabled && !closed) {
            dispatcher.offer(record);
        }
    }

    public void rememberExecution(Object queryExecution, long executionId) {
        if (queryExecution != null) {
            executionIds.put(queryExecution, executionId);
        }
    }

    public Long executionIdOf(Object queryExecution) {
        return queryExecution == null ? null : executionIds.get(queryExecution);
    }

    void rememberFit(String uid, MlRun run) {
        fits.put(uid, run);
    }

    MlRun fitOf(String uid) {
        return uid == null ? null : fits.get(uid);
    }

    /**
     * A job or fit reads data no one can name: say what and why, once per kind of gap (at WARN), so the user
     * knows why its outputs will carry IncompleteLineage; repeats go to DEBUG.
     */
    void warnUnresolved(String what, java.util.List<String> unresolved) {
        String key = String.join("; ", unresolved);
        boolean first = warnedUnresolved.size() < 100 && warnedUnresolved.add(key);
        String message = "atlas-ml: {} reads data it cannot name, so what it makes is marked IncompleteLineage "
                + "until that data is recorded: {}";
        if (first) {
            LOG.warn(message, what, key);
        } else {
            LOG.debug(message, what, key);
        }
    }

    /** A listener callback failed: never let it reach Spark; log the first and every 100th. */
    public void captureFailed(String where, Throwable t) {
        long n = captureErrors.incrementAndGet();
        if (n == 1 || n % 100 == 0) {
            LOG.warn("atlas-ml: could not capture lineage in {} ({} time(s) so far): {}", where, n,
                    Scrubber.scrubText(t.getClass().getName() + ": " + t.getMessage()));
        }
    }

    /** Bounded flush and close; idempotent. */
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        dispatcher.close(config.flushTimeoutMs);
    }

    public boolean isClosed() {
        return closed;
    }

    static String sparkVersion() {
        try {
            Class<?> c = Class.forName("org.apache.spark.package$");
            Object module = c.getField("MODULE$").get(null);
            return String.valueOf(c.getMethod("SPARK_VERSION").invoke(module));
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            return null;
        }
    }
}
