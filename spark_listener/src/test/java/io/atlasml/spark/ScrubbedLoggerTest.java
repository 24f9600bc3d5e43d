package io.atlasml.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.LegacyAbstractLogger;

/** The listener's log lines: what reaches the logging backend is scrubbed, whatever the arguments carry. */
class ScrubbedLoggerTest {
    /** An slf4j logger that keeps what it is given, as a logging backend would receive it. */
    private static final class Captured extends LegacyAbstractLogger {
        final List<String> lines = new ArrayList<>();
        final List<Throwable> throwables = new ArrayList<>();

        @Override
        protected String getFullyQualifiedCallerName() {
            return null;
        }

        @Override
        protected void handleNormalizedLoggingCall(Level level, Marker marker, String format, Object[] args,
                                                   Throwable t) {
            lines.add(args == null || args.length == 0 ? format : format + " " + java.util.Arrays.toString(args));
            if (t != null) {
                throwables.add(t);
            }
        }

        @Override
        public boolean isTraceEnabled() {
            return true;
        }

        @Override
        public boolean isDebugEnabled() {
            return true;
        }

        @Override
        public boolean isInfoEnabled() {
            return true;
        }

        @Override
        public boolean isWarnEnabled() {
            return true;
        }

        @Override
        public boolean isErrorEnabled() {
            return true;
        }
    }

    @Test
    void argumentsAndExceptionsAreScrubbedBeforeTheBackendSeesThem() {
        Captured backend = new Captured();
        ScrubbedLogger log = new ScrubbedLogger(backend);
        log.warn("atlas-ml: could not POST lineage to {} ({} failures so far)",
                "http://etl:UrlPw1@receiver/api?token=UrlTok2", 3, new IOException("Authorization: Bearer HdrTok3xyz"));
        log.info("atlas-ml: lineage listener on, {}", "spoolDir=/spool/password=DirPw4");
        log.debug("atlas-ml: {} reads data it cannot name", "job scott/OraPw5@orcl");
        assertEquals(3, backend.lines.size());
        assertTrue(backend.throwables.isEmpty(), "a stack trace would carry unscrubbed messages");
        String all = String.join("\n", backend.lines);
        for (String secret : List.of("UrlPw1", "UrlTok2", "HdrTok3xyz", "DirPw4", "OraPw5")) {
            assertFalse(all.contains(secret), secret + " reached the log: " + all);
        }
        assertTrue(all.contains("could not POST lineage to http://receiver/api (3 failures so far)"), all);
        assertTrue(all.contains("java.io.IOException: Authorization: Bearer ***"), all);
    }

    /** A new log line cannot bypass the scrubbing: no class but ScrubbedLogger talks to slf4j or stdout/stderr. */
    @Test
    void noOtherClassLogsOrPrintsDirectly() throws IOException {
        Path main = Paths.get("src/main/java/io/atlasml/spark");
        List<String> offenders;
        try (Stream<Path> files = Files.list(main)) {
            offenders = files.filter(f -> {
                String name = f.getFileName().toString();
                if (name.equals("ScrubbedLogger.java")) {
                    return false;
                }
                try {
                    String code = Files.readString(f);
                    return code.contains("org.slf4j") || code.contains("System.out")
                            || (code.contains("System.err") && !name.equals("ConsoleTransport.java"))
                            || code.contains("printStackTrace");
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).map(f -> f.getFileName().toString()).sorted().collect(Collectors.toList());
        }
        assertTrue(offenders.isEmpty(), "log through ScrubbedLogger instead: " + offenders);
    }
}
