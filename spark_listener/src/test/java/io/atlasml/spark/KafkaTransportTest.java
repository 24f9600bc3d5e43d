package io.atlasml.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kafka transport when what it talks to does not answer: an Atlas that accepts connections and never
 * replies (a real socket, no recorded answers) and no broker. Every event must still reach the spool, and the
 * dispatcher must not pay the full timeout per event: at 10 s each, a job's events outgrew the bounded flush at
 * application end and were lost with the JVM.
 */
class KafkaTransportTest {
    private static final int TIMEOUT_MS = 500;
    private static final String EVENT = "{\"eventType\":\"COMPLETE\",\"eventTime\":\"2026-11-30T10:00:00Z\","
            + "\"producer\":\"test\",\"run\":{\"runId\":\"0193a5a0-0000-7000-8000-000000000001\"},"
            + "\"job\":{\"namespace\":\"spark\",\"name\":\"app.write.out\"},"
            + "\"inputs\":[{\"namespace\":\"file\",\"name\":\"/data/in\"}],"
            + "\"outputs\":[{\"namespace\":\"file\",\"name\":\"/data/out\"}]}";

    private static KafkaTransport transport(ServerSocket silentAtlas, Path spool, long retryAfterMs) {
        KafkaSettings settings = KafkaSettings.from(Map.of(), Map.of(
                "spark.atlas.kafka.bootstrap.servers", "127.0.0.1:1",
                "spark.atlas.kafka.timeoutMs", String.valueOf(TIMEOUT_MS)), "test");
        AtlasLookup lookup = new AtlasLookup("http://127.0.0.1:" + silentAtlas.getLocalPort(), "admin", "pw",
                TIMEOUT_MS);
        return new KafkaTransport(settings, lookup, KafkaTransport.producer(settings), new SpoolTransport(spool),
                retryAfterMs);
    }

    private static long spooled(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.toString().endsWith(".json")).count();
        }
    }

    private static long millis(long since) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - since);
    }

    @Test
    void afterAFailureTheNextEventsGoStraightToTheSpool(@TempDir Path dir) throws Exception {
        try (ServerSocket silentAtlas = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            KafkaTransport t = transport(silentAtlas, dir, KafkaTransport.RETRY_AFTER_MS);
            long started = System.nanoTime();
            for (int i = 0; i < 10; i++) {
                t.send(EVENT);
            }
            long ms = millis(started);
            t.close();
            assertEquals(10, spooled(dir), "every event must be in the spool");
            // One timeout for the first event; waiting it out per event would take 10 x 500 ms.
            assertTrue(ms < 5 * TIMEOUT_MS, "10 events took " + ms + " ms: each waited for the timeout");
        }
    }

    @Test
    void kafkaIsTriedAgainAfterThePause(@TempDir Path dir) throws Exception {
        try (ServerSocket silentAtlas = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            KafkaTransport t = transport(silentAtlas, dir, 1000);
            t.send(EVENT); // fails after the timeout: pause
            long started = System.nanoTime();
            t.send(EVENT);
            assertTrue(millis(started) < TIMEOUT_MS, "within the pause an event must not wait for Atlas or Kafka");
            Thread.sleep(1100);
            started = System.nanoTime();
            t.send(EVENT);
            assertTrue(millis(started) >= TIMEOUT_MS - 50, "after the pause Kafka (and Atlas) must be tried again");
            t.close();
            assertEquals(3, spooled(dir));
        }
    }
}
