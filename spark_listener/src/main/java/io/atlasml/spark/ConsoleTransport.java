package io.atlasml.spark;

import java.io.PrintStream;

/** Prints each event as one line on stderr (for trying things out). */
public final class ConsoleTransport implements Transport {
    private final PrintStream out;

    public ConsoleTransport() {
        this(System.err);
    }

    ConsoleTransport(PrintStream out) {
        this.out = out;
    }

    @Override
    public void send(String eventJson) {
        out.println("[atlas-ml] " + eventJson);
        out.flush();
    }
}
