package io.atlasml.spark;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Publishes each terminal event as the Atlas hook notification the Python side would publish for it
 * (HookNotifications), to Atlas's hook topic (ATLAS_HOOK), where Atlas's own consumer applies it.
 *
 * <p>Never blocks or fails the job: it runs on the dispatcher's thread (behind the bounded queue), the
 * producer's buffer and every wait are bounded (spark.atlas.kafka.timeoutMs), and an event that Kafka does not
 * acknowledge in time, or whose entities Atlas cannot be asked about, goes to the spool directory instead, so
 * {@code atlas-ml ingest} delivers it later: nothing is lost, nothing is thrown into the job.
 *
 * <p>After such a failure the next events go straight to the spool for {@value #RETRY_AFTER_MS} ms, then Kafka is
 * tried again. Without that pause a down broker (or a hanging Atlas) cost every event the full timeout on the
 * dispatcher's thread: at 10 s per event the queue outgrew the bounded flush at application end, which then
 * held up {@code spark.stop()} for the whole flush timeout and left the unsent events to die with the JVM,
 * neither in Kafka nor in the spool.
 */
public final class KafkaTransport implements Transport {
    private static final ScrubbedLogger LOG = ScrubbedLogger.of(KafkaTransport.class);
    /** One key for all: one partition, so Atlas applies events in order (a job reads the previous one's output). */
    static final byte[] ORDER_KEY = "atlas-mlplugin-lineage".getBytes(StandardCharsets.UTF_8);
    static final int REMEMBERED = 100_000;
    static final long RETRY_AFTER_MS = 30_000;

    private final KafkaSettings settings;
    private final AtlasLookup lookup;
    private final SpoolFallback fallback;
    private final Producer<byte[], byte[]> producer;
    private final String user;
    private final String sourceIp;
    private final long retryAfterNanos;
    /** Until when (System.nanoTime) events skip Kafka after a failure; only the dispatcher's thread uses it. */
    private long skipUntil;
    private boolean skipping;
    /** Names this transport published (oldest forgotten first): what Atlas may not have applied yet. */
    private final Set<String> published = Collections.newSetFromMap(new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > REMEMBERED;
        }
    });

    KafkaTransport(KafkaSettings settings, AtlasLookup lookup, Producer<byte[], byte[]> producer, Transport fallback) {
        this(settings, lookup, producer, fallback, RETRY_AFTER_MS);
    }

    KafkaTransport(KafkaSettings settings, AtlasLookup lookup, Producer<byte[], byte[]> producer, Transport fallback,
                   long retryAfterMs) {
        this.retryAfterNanos = TimeUnit.MILLISECONDS.toNanos(retryAfterMs);
        this.settings = settings;
        this.lookup = lookup;
        this.producer = producer;
        this.fallback = new SpoolFallback(fallback);
        this.user = System.getProperty("user.name", "UNKNOWN");
        this.sourceIp = sourceIp();
    }

    /** The transport for spark.atlas.transport=kafka; without a broker or Atlas to read, the spool's. */
    static Transport create(AtlasConfig config) {
        SpoolTransport spool = new SpoolTransport(config.spoolDir);
        try {
            KafkaSettings settings = KafkaSettings.from(config, System.getenv());
            if (settings.bootstrapServers == null) {
                LOG.warn("atlas-ml: transport kafka needs spark.atlas.kafka.bootstrap.servers (or "
                        + "atlas.kafka.bootstrap.servers in $ATLAS_CONF/atlas-application.properties); "
                        + "events go to the spool {}", config.spoolDir);
                return spool;
            }
            String url = config.get(AtlasConfig.PREFIX + "rest.url");
            if (url == null || url.isBlank()) {
                LOG.warn("atlas-ml: transport kafka needs spark.atlas.rest.url (with spark.atlas.rest.user and "
                        + "spark.atlas.rest.password) to read which inputs are registered; events go to the spool {}",
                        config.spoolDir);
                return spool;
            }
            AtlasLookup lookup = new AtlasLookup(url, config.get(AtlasConfig.PREFIX + "rest.user"),
                    config.get(AtlasConfig.PREFIX + "rest.password"), settings.timeoutMs);
            Transport t = new KafkaTransport(settings, lookup, producer(settings), spool);
            LOG.info("atlas-ml: publishing Atlas hook notifications to {} ({})", settings.topic, settings);
            return t;
        } catch (RuntimeException e) { // a refused setting: name it, then keep the job's lineage in the spool
            LOG.warn("atlas-ml: the kafka transport could not start ({}); events go to the spool {}",
                    Scrubber.scrubText(String.valueOf(e)), config.spoolDir);
            return spool;
        }
    }

    static Producer<byte[], byte[]> producer(KafkaSettings settings) {
        Map<String, Object> conf = new HashMap<>();
        for (Map.Entry<String, String> e : settings.producer.entrySet()) {
            conf.put(e.getKey(), e.getKey().equals("sasl.jaas.config") ? relocated(e.getValue()) : e.getValue());
        }
        conf.put("bootstrap.servers", settings.bootstrapServers);
        conf.putIfAbsent("acks", "all");
        conf.putIfAbsent("client.id", "atlas-mlplugin-spark-listener");
        // Bounded: no send waits longer than the timeout for metadata or buffer space, and no message is
        // retried past it (then the event goes to the spool instead).
        int timeout = settings.timeoutMs;
        conf.put("max.block.ms", timeout);
        conf.put("linger.ms", 0);
        conf.put("request.timeout.ms", timeout);
        conf.put("delivery.timeout.ms", timeout);
        conf.putIfAbsent("buffer.memory", 8L * 1024 * 1024);
        conf.putIfAbsent("max.request.size", Math.max(settings.maxLengthBytes + 4096, 1_048_576));
        // Atlas's own hooks publish without idempotence; it would need an extra ACL on a secured cluster.
        conf.put("enable.idempotence", false);
        // Client metrics push needs the protobuf/OpenTelemetry classes the shaded jar leaves out.
        conf.put("enable.metrics.push", false);
        ClassLoader previous = Thread.currentThread().getContextClassLoader();
        try { // the client loads configured classes (login modules ...) through the context loader
            Thread.currentThread().setContextClassLoader(KafkaTransport.class.getClassLoader());
            return new KafkaProducer<>(conf, new ByteArraySerializer(), new ByteArraySerializer());
        } finally {
            Thread.currentThread().setContextClassLoader(previous);
        }
    }

    /**
     * A JAAS config names Kafka's login modules by their usual class names; inside this jar they live under
     * the relocated package. Built at run time so that the jar's relocation does not rewrite it too.
     */
    static String relocated(String jaas) {
        String original = String.join(".", "org", "apache", "kafka") + ".";
        String here = ByteArraySerializer.class.getName();
        String prefix = here.substring(0, here.indexOf("common.serialization."));
        return jaas.replace(original, prefix);
    }

    @Override
    public void send(String eventJson) throws Exception {
        HookNotifications.Plan plan;
        try {
            plan = HookNotifications.plan(HookNotifications.MAPPER.readTree(eventJson));
        } catch (Exception e) { // our own JSON: cannot happen; keep it for ingest to judge
            fallback.send(eventJson);
            return;
        }
        if (plan == null) {
            return; // not terminal, or a read-only job: ingest would skip it too
        }
        if (skipping && System.nanoTime() - skipUntil < 0) {
            fallback.send(eventJson); // Kafka or Atlas failed a moment ago: do not wait for the timeout again
            return;
        }
        try {
            HookNotifications.Known known = lookup.known(plan, published);
            var entities = HookNotifications.entities(plan, known);
            List<byte[]> values = HookNotifications.encode(HookNotifications.createRequest(entities, user),
                    settings.maxLengthBytes, System.currentTimeMillis(), sourceIp);
            List<Future<?>> acks = new ArrayList<>();
            for (byte[] value : values) {
                acks.add(producer.send(new ProducerRecord<>(settings.topic, ORDER_KEY, value)));
            }
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(settings.timeoutMs);
            for (Future<?> ack : acks) {
                ack.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            }
            for (JsonNode entity : entities) {
                published.add(entity.path("attributes").path("qualifiedName").asText());
            }
            if (skipping) {
                skipping = false;
                LOG.info("atlas-ml: publishing to Kafka topic {} again", settings.topic);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fallback.send(eventJson);
        } catch (Exception e) {
            skipping = true;
            skipUntil = System.nanoTime() + retryAfterNanos;
            fallback.afterFailure(eventJson, "publish lineage to Kafka topic " + settings.topic + " at "
                    + Scrubber.scrubText(settings.bootstrapServers) + "; events go straight to the spool for the next "
                    + TimeUnit.NANOSECONDS.toMillis(retryAfterNanos) / 1000.0 + " s", e);
        }
    }

    @Override
    public void close() {
        try {
            producer.close(java.time.Duration.ofMillis(Math.min(settings.timeoutMs, 5000)));
        } catch (RuntimeException e) {
            LOG.debug("atlas-ml: closing the Kafka producer: {}", Scrubber.scrubText(String.valueOf(e)));
        }
    }

    private static String sourceIp() {
        try {
            return InetAddress.getLocalHost().getHostAddress();
        } catch (Exception e) {
            return ""; // what AbstractNotification sends when it cannot tell
        }
    }
}
