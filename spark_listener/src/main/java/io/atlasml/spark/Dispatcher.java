package io.atlasml.spark;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * Hands records from Spark's listener thread to a daemon thread of our own, through a bounded queue.
 * {@link #offer} never blocks: when the queue is full the record is dropped, counted and (every
 * {@value #LOG_EVERY} drops) logged. {@link #flush} waits, at most a given time, for the queue to drain.
 */
public final class Dispatcher {
    private static final ScrubbedLogger LOG = ScrubbedLogger.of(Dispatcher.class);
    static final int LOG_EVERY = 100;

    private final BlockingQueue<LineageRecord> queue;
    private final Function<LineageRecord, String> serializer;
    private final Transport transport;
    private final Thread worker;
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong inFlight = new AtomicLong();
    private volatile boolean closed;

    public Dispatcher(int capacity, Function<LineageRecord, String> serializer, Transport transport) {
        this.queue = new ArrayBlockingQueue<>(Math.max(1, capacity));
        this.serializer = serializer;
        this.transport = transport;
        this.worker = new Thread(this::run, "atlas-ml-lineage-dispatcher");
        this.worker.setDaemon(true);
        this.worker.start();
    }

    /** Never blocks and never throws; false when the record was dropped. */
    public boolean offer(LineageRecord record) {
        if (record == null) {
            return false;
        }
        if (!closed && queue.offer(record)) {
            return true;
        }
        long n = dropped.incrementAndGet();
        if (n == 1 || n % LOG_EVERY == 0) {
            LOG.warn("atlas-ml: lineage queue full or closed, {} event(s) dropped so far "
                    + "(raise spark.atlas.queueSize?)", n);
        }
        return false;
    }

    private void run() {
        while (true) {
            LineageRecord r;
            try {
                r = queue.poll(200, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                if (queue.isEmpty()) {
                    return;
                }
                continue;
            }
            if (r == null) {
                if (closed) {
                    return;
                }
                continue;
            }
            inFlight.incrementAndGet();
            try {
                transport.send(serializer.apply(r));
                sent.incrementAndGet();
            } catch (Throwable t) {
                long n = failed.incrementAndGet();
                if (n == 1 || n % LOG_EVERY == 0) {
                    LOG.warn("atlas-ml: could not deliver a lineage event ({} failures so far): {}", n,
                            Scrubber.scrubText(String.valueOf(t)));
                }
            } finally {
                inFlight.decrementAndGet();
            }
        }
    }

    /** Waits at most timeoutMs for the queued records to be delivered; true when all were. */
    public boolean flush(long timeoutMs) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (!queue.isEmpty() || inFlight.get() > 0) {
            if (System.nanoTime() > deadline || !worker.isAlive()) {
                LOG.warn("atlas-ml: {} lineage event(s) not delivered at shutdown (flush timeout {} ms)",
                        queue.size() + inFlight.get(), timeoutMs);
                return false;
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    /** Flushes (bounded), then stops accepting and ends the worker. */
    public void close(long timeoutMs) {
        flush(timeoutMs);
        closed = true;
        try {
            worker.join(Math.max(1, Math.min(timeoutMs, 1000)));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        transport.close();
        if (dropped.get() > 0 || failed.get() > 0) {
            LOG.warn("atlas-ml: lineage events sent {}, dropped {}, failed {}", sent.get(), dropped.get(),
                    failed.get());
        } else {
            LOG.info("atlas-ml: lineage events sent {}", sent.get());
        }
    }

    public long dropped() {
        return dropped.get();
    }

    public long sent() {
        return sent.get();
    }

    public long failed() {
        return failed.get();
    }

    public int queued() {
        return queue.size();
    }
}
