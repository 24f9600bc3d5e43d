package io.atlasml.spark;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.UUID;

/**
 * One JSON file per event in a directory, written atomically (a hidden temporary file, fsync, rename), named
 * {@code <epoch_nanos>-<uuid>.json} so that a name sort is the order of events. The plugin's
 * {@code atlas-ml} ingest drains the directory.
 *
 * <p>Files are created owner-only (0600) and a directory the listener creates is 0700 (where the file system
 * has POSIX permissions): an event names the job's data, its user and its errors, which other users of a
 * shared driver host need not read. The process that drains the spool therefore runs as the job's user.
 */
public final class SpoolTransport implements Transport {
    private static final Set<PosixFilePermission> OWNER_FILE = PosixFilePermissions.fromString("rw-------");
    private static final Set<PosixFilePermission> OWNER_DIR = PosixFilePermissions.fromString("rwx------");
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
        boolean posix = dir.getFileSystem().supportedFileAttributeViews().contains("posix");
        if (!Files.isDirectory(dir)) {
            if (posix) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(OWNER_DIR));
            } else {
                Files.createDirectories(dir);
            }
        }
        long nanos = epochNanos();
        String base = String.format("%020d-%s", nanos, UUID.randomUUID());
        Path tmp = dir.resolve("." + base + ".json.tmp");
        Path target = dir.resolve(base + ".json");
        try {
            Set<OpenOption> options = Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                    StandardOpenOption.SYNC);
            // created with its permissions (not chmod-ed after), so it is never readable by others, not even
            // for a moment
            try (SeekableByteChannel out = posix
                    ? Files.newByteChannel(tmp, options, PosixFilePermissions.asFileAttribute(OWNER_FILE))
                    : Files.newByteChannel(tmp, options)) {
                ByteBuffer bytes = ByteBuffer.wrap(eventJson.getBytes(StandardCharsets.UTF_8));
                while (bytes.hasRemaining()) {
                    out.write(bytes);
                }
            }
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
