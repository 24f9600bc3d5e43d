package io.atlasml.spark;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/** The listener's settings, read once from the Spark configuration ({@code spark.atlas.*}). */
public final class AtlasConfig {
    public static final String PREFIX = "spark.atlas.";

    public enum TransportKind { SPOOL, HTTP, CONSOLE, KAFKA }

    public final TransportKind transport;
    public final Path spoolDir;
    public final String httpUrl;
    /** Bearer token for the receiver. Never logged, never put in an event. */
    final String httpToken;
    public final int httpTimeoutMs;
    public final boolean captureReads;
    public final int queueSize;
    public final String namespace;
    public final long flushTimeoutMs;
    public final boolean enabled;
    /** spark.sql.warehouse.dir and the metastore URI, to name catalog tables. */
    public final String warehouseDir;
    public final String metastoreUri;
    /** Catalog name -> its spark.sql.catalog.NAME.* settings (for DataSource V2 table naming). */
    private final Map<String, String> all;

    private AtlasConfig(Map<String, String> conf) {
        this.all = conf;
        this.enabled = bool(conf, PREFIX + "enabled", true);
        String kind = conf.getOrDefault(PREFIX + "transport", "spool").trim().toUpperCase(Locale.ROOT);
        TransportKind k;
        try {
            k = TransportKind.valueOf(kind);
        } catch (IllegalArgumentException e) {
            k = TransportKind.SPOOL;
        }
        this.transport = k;
        String spool = conf.get(PREFIX + "spool.dir");
        this.spoolDir = spool != null && !spool.isBlank()
                ? Paths.get(spool.trim())
                : Paths.get(System.getProperty("java.io.tmpdir"), "atlas-ml-spool");
        this.httpUrl = conf.get(PREFIX + "http.url");
        this.httpToken = conf.get(PREFIX + "http.token");
        this.httpTimeoutMs = (int) number(conf, PREFIX + "http.timeoutMs", 5000, 100, 60_000);
        this.captureReads = bool(conf, PREFIX + "captureReads", false);
        this.queueSize = (int) number(conf, PREFIX + "queueSize", 1000, 1, 1_000_000);
        this.flushTimeoutMs = number(conf, PREFIX + "flushTimeoutMs", 10_000, 0, 600_000);
        String ns = conf.get(PREFIX + "namespace");
        this.namespace = ns != null && !ns.isBlank() ? ns.trim() : "spark";
        this.warehouseDir = conf.get("spark.sql.warehouse.dir");
        String uris = conf.getOrDefault("spark.hadoop.hive.metastore.uris", conf.get("hive.metastore.uris"));
        this.metastoreUri = uris == null || uris.isBlank() ? null : uris.split(",")[0].trim();
    }

    /** From a map of Spark settings (tests, or SparkConf.getAll). */
    public static AtlasConfig fromMap(Map<String, String> conf) {
        return new AtlasConfig(new HashMap<>(conf));
    }

    /** From a SparkConf; also remembers the values of secret-looking settings so they can be masked. */
    public static AtlasConfig fromSparkConf(org.apache.spark.SparkConf conf) {
        Map<String, String> map = new HashMap<>();
        if (conf != null) {
            for (scala.Tuple2<String, String> kv : conf.getAll()) {
                map.put(kv._1(), kv._2());
            }
        }
        Scrubber.rememberSecrets(map);
        return fromMap(map);
    }

    /** All settings (read-only); callers must not ship them unscrubbed. */
    Map<String, String> all() {
        return java.util.Collections.unmodifiableMap(all);
    }

    /** A raw setting; callers must not ship it unscrubbed. */
    public String get(String key) {
        return all.get(key);
    }

    private static boolean bool(Map<String, String> conf, String key, boolean dflt) {
        String v = conf.get(key);
        return v == null || v.isBlank() ? dflt : Boolean.parseBoolean(v.trim());
    }

    private static long number(Map<String, String> conf, String key, long dflt, long min, long max) {
        return number(conf.get(key), dflt, min, max);
    }

    /** A setting's number, clamped to [min, max]; the default when unset or not a number (never an error). */
    static long number(String v, long dflt, long min, long max) {
        if (v == null || v.isBlank()) {
            return dflt;
        }
        try {
            return Math.max(min, Math.min(max, Long.parseLong(v.trim())));
        } catch (NumberFormatException e) {
            return dflt;
        }
    }

    @Override
    public String toString() { // no token
        return "AtlasConfig{transport=" + transport + ", spoolDir=" + spoolDir + ", httpUrl="
                + Scrubber.scrubUri(httpUrl) + ", captureReads=" + captureReads + ", queueSize=" + queueSize
                + ", namespace=" + namespace + "}";
    }
}
