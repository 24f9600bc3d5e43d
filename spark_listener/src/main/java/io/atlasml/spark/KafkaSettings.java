package io.atlasml.spark;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * How the kafka transport reaches Atlas's hook topic, configured the way Atlas's own hooks are: the
 * {@code atlas.kafka.*} keys of {@code atlas-application.properties} in {@code $ATLAS_CONF}, overridden by
 * {@code spark.atlas.kafka.*} Spark settings (same key without the {@code atlas.kafka.} prefix). Security
 * settings (security.protocol, sasl.*, ssl.*, and {@code atlas.jaas.KafkaClient.*} as Atlas's
 * InMemoryJAASConfiguration reads them) go to the producer as they are. Values are never logged.
 */
public final class KafkaSettings {
    static final String SPARK_PREFIX = AtlasConfig.PREFIX + "kafka.";
    static final String ATLAS_PREFIX = "atlas.kafka.";
    static final String JAAS_PREFIX = "atlas.jaas.KafkaClient.";
    static final String TOPIC_KEY = "atlas.notification.hook.topic.name";
    static final String MAX_LENGTH_KEY = "atlas.notification.message.max.length.bytes";
    /** The producer keys taken from atlas.kafka.*; the others there configure Atlas's consumer and broker. */
    static final Pattern PRODUCER_KEYS = Pattern.compile("^(bootstrap\\.servers|security\\.protocol|sasl\\..+|"
            + "ssl\\..+|client\\.id|acks|linger\\.ms|compression\\.type|retries|retry\\.backoff\\.ms|"
            + "request\\.timeout\\.ms|max\\.request\\.size|buffer\\.memory)$");
    /** Our own spark.atlas.kafka.* settings, which are not producer keys. */
    static final String TOPIC = "topic";
    static final String TIMEOUT_MS = "timeoutMs";

    public final String bootstrapServers;
    public final String topic;
    public final int maxLengthBytes;
    /** How long one event may wait for the broker's acknowledgement before it goes to the spool instead. */
    public final int timeoutMs;
    /** Producer settings (without bootstrap.servers); may hold secrets: never log them. */
    final Map<String, String> producer;
    /** Where the settings came from, for messages. */
    public final String source;

    private KafkaSettings(String bootstrap, String topic, int maxLength, int timeoutMs,
                          Map<String, String> producer, String source) {
        this.bootstrapServers = bootstrap;
        this.topic = topic;
        this.maxLengthBytes = maxLength;
        this.timeoutMs = timeoutMs;
        this.producer = producer;
        this.source = source;
    }

    /** From the Spark settings and {@code $ATLAS_CONF/atlas-application.properties} (when there is one). */
    public static KafkaSettings from(AtlasConfig config, Map<String, String> env) {
        Map<String, String> atlas = new TreeMap<>();
        String source = "spark.atlas.kafka.*";
        String confDir = env.get("ATLAS_CONF");
        if (confDir != null && !confDir.isBlank()) {
            Path file = Paths.get(confDir.trim(), "atlas-application.properties");
            if (Files.isRegularFile(file)) {
                atlas.putAll(read(file));
                source = file + " and spark.atlas.kafka.*";
            }
        }
        return from(atlas, config.all(), source);
    }

    static KafkaSettings from(Map<String, String> atlasProperties, Map<String, String> spark, String source) {
        Map<String, String> producer = new TreeMap<>();
        for (Map.Entry<String, String> e : atlasProperties.entrySet()) {
            if (e.getKey().startsWith(ATLAS_PREFIX)) {
                String key = e.getKey().substring(ATLAS_PREFIX.length());
                if (PRODUCER_KEYS.matcher(key).matches()) {
                    producer.put(key, e.getValue().trim());
                }
            }
        }
        String jaas = jaasConfig(atlasProperties);
        if (jaas != null) {
            producer.putIfAbsent("sasl.jaas.config", jaas);
        }
        for (Map.Entry<String, String> e : spark.entrySet()) {
            if (e.getKey().startsWith(SPARK_PREFIX)) {
                String key = e.getKey().substring(SPARK_PREFIX.length());
                if (!key.equals(TOPIC) && !key.equals(TIMEOUT_MS)) {
                    producer.put(key, e.getValue().trim());
                }
            }
        }
        for (Map.Entry<String, String> e : producer.entrySet()) {
            if (e.getKey().startsWith("sasl.") || e.getKey().contains("password")) {
                Scrubber.rememberSecret(e.getValue()); // a JAAS config holds the password inline
            }
        }
        String bootstrap = producer.remove("bootstrap.servers");
        String topic = spark.getOrDefault(SPARK_PREFIX + TOPIC, atlasProperties.getOrDefault(TOPIC_KEY, "ATLAS_HOOK"));
        int maxLength = (int) AtlasConfig.number(atlasProperties.get(MAX_LENGTH_KEY),
                HookNotifications.DEFAULT_MAX_LENGTH_BYTES, 1025, Integer.MAX_VALUE);
        int timeout = (int) AtlasConfig.number(spark.get(SPARK_PREFIX + TIMEOUT_MS), 10_000, 100, 300_000);
        return new KafkaSettings(bootstrap == null || bootstrap.isBlank() ? null : bootstrap, topic.trim(),
                maxLength, timeout, producer, source);
    }

    /** Atlas's InMemoryJAASConfiguration form (loginModuleName, loginModuleControlFlag, option.*) as one
     *  sasl.jaas.config value, which the Kafka client reads without a JAAS file. */
    static String jaasConfig(Map<String, String> props) {
        String module = props.get(JAAS_PREFIX + "loginModuleName");
        if (module == null || module.isBlank()) {
            return null;
        }
        StringBuilder out = new StringBuilder(module.trim()).append(' ')
                .append(props.getOrDefault(JAAS_PREFIX + "loginModuleControlFlag", "required").trim());
        for (Map.Entry<String, String> e : new TreeMap<>(props).entrySet()) {
            if (e.getKey().startsWith(JAAS_PREFIX + "option.")) {
                String value = e.getValue().trim().replace("\\", "\\\\").replace("\"", "\\\"");
                out.append(' ').append(e.getKey().substring((JAAS_PREFIX + "option.").length()))
                        .append("=\"").append(value).append('"');
            }
        }
        return out.append(';').toString();
    }

    private static Map<String, String> read(Path file) {
        Properties props = new Properties();
        try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            props.load(in);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage()
                    + " (fix ATLAS_CONF or the file's permissions)", e);
        }
        Map<String, String> out = new TreeMap<>();
        props.stringPropertyNames().forEach(k -> out.put(k, props.getProperty(k)));
        return out;
    }

    /** The producer's keys (values left out: they may be secrets). */
    @Override
    public String toString() {
        return "KafkaSettings{bootstrap.servers=" + Scrubber.scrubText(String.valueOf(bootstrapServers))
                + ", topic=" + topic + ", keys=" + producer.keySet() + ", from " + source + "}";
    }
}
