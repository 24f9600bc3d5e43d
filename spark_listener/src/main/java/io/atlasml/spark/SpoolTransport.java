package io.atlasml.spark;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.UUID;

/**
 * One JSON file per event in a directory, written atomically (a hidden temporary file, fsync, rename), named
 * {@code <epoch_nanos>-<uuid>.json} so that a name sort is the order of events. The plugin's
 * {@code atlas-ml} ingest drains the directory.
 */
public final class SpoolTransport implements Transport {
    private final Path dir;
    private long lastNanos;

    public SpoolTransport(Path dir) {
        this.dir = dir;
    }

    public Path directory() {
        return dir;
    }

    @Override
    public synchronized void send(String eventJson) throws IOException {
        Files.createDirectories(dir);
        long nanos = epochNanos();
        String base = String.format("%020d-%s", nanos, UUID.randomUUID());
        Path tmp = dir.resolve("." + base + ".json.tmp");
        Path target = dir.resolve(base + ".json");
        try {
            Files.write(tmp, eventJson.getBytes(StandardCharsets.UTF_8), StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE, StandardOpenOption.SYNC);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Wall-clock nanoseconds since the epoch, strictly increasing within this JVM. */
    private long epochNanos() {
        java.time.Instant now = java.time.Instant.now();
        long nanos = now.getEpochSecond() * 1_000_000_000L + now.getNano();
        if (nanos <= lastNanos) {
            nanos = lastNanos + 1;
        }
        lastNanos = nanos;
        return nanos;
    }
}
