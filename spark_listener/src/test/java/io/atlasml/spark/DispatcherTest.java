package io.atlasml.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DispatcherTest {
    private static LineageRecord rec(int i) {
        LineageRecord r = new LineageRecord();
        r.runId = LineageRecord.stableRunId("x", String.valueOf(i));
        r.jobName = "job" + i;
        return r;
    }

    @Test
    void offerNeverBlocksAndCountsDrops() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        Transport stuck = json -> release.await(10, TimeUnit.SECONDS);
        Dispatcher d = new Dispatcher(2, r -> r.jobName, stuck);
        long t0 = System.nanoTime();
        int accepted = 0;
        for (int i = 0; i < 50; i++) {
            accepted += d.offer(rec(i)) ? 1 : 0;
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTrue(ms < 1000, "offer blocked for " + ms + " ms");
        assertTrue(accepted <= 3, "accepted " + accepted); // 2 queued + at most 1 taken by the worker
        assertEquals(50 - accepted, d.dropped());
        assertFalse(d.flush(100), "flush must give up when the transport is stuck");
        release.countDown();
        assertTrue(d.flush(5000));
        d.close(1000);
        assertEquals(accepted, d.sent());
    }

    @Test
    void failingTransportIsCountedNotThrown() {
        Dispatcher d = new Dispatcher(10, r -> r.jobName, json -> {
            throw new java.io.IOException("down");
        });
        for (int i = 0; i < 5; i++) {
            assertTrue(d.offer(rec(i)));
        }
        assertTrue(d.flush(5000));
        d.close(1000);
        assertEquals(5, d.failed());
        assertFalse(d.offer(rec(99)), "closed dispatcher accepts nothing");
    }

    @Test
    void spoolWritesOneFilePerEventAtomicallyInOrder(@TempDir Path dir) throws Exception {
        SpoolTransport spool = new SpoolTransport(dir.resolve("spool"));
        Dispatcher d = new Dispatcher(100, r -> "{\"job\":\"" + r.jobName + "\"}", spool);
        for (int i = 0; i < 20; i++) {
            d.offer(rec(i));
        }
        assertTrue(d.flush(5000));
        d.close(1000);
        List<Path> files;
        try (Stream<Path> s = Files.list(dir.resolve("spool"))) {
            files = s.sorted().collect(Collectors.toList());
        }
        assertEquals(20, files.size());
        for (int i = 0; i < 20; i++) {
            String name = files.get(i).getFileName().toString();
            assertTrue(name.matches("\\d{20}-[0-9a-f-]{36}\\.json"), name);
            assertEquals("{\"job\":\"job" + i + "\"}", Files.readString(files.get(i)));
        }
    }

    @Test
    void httpFallsBackToSpool(@TempDir Path dir) throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort(); // closed again: nothing listens there
        }
        SpoolTransport spool = new SpoolTransport(dir);
        HttpTransport http = new HttpTransport("http://127.0.0.1:" + port + "/api/v1/lineage", "tok", 2000, spool);
        http.send("{\"a\":1}");
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(1, s.count());
        }
    }
}
