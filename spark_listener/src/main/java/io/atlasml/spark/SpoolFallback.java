package io.atlasml.spark;

/**
 * Where an event goes when a transport cannot deliver it: the spool, so nothing is lost. Reports the first
 * failure and every 100th (a down receiver or broker would otherwise log once per event), with the cause
 * scrubbed. Shared by the http and kafka transports.
 */
final class SpoolFallback {
    private static final ScrubbedLogger LOG = ScrubbedLogger.of(SpoolFallback.class);
    private final Transport spool;
    private long failures;

    SpoolFallback(Transport spool) {
        this.spool = spool;
    }

    /** The event goes to the spool without a failure to report (no destination configured, interrupted). */
    void send(String eventJson) throws Exception {
        spool.send(eventJson);
    }

    /** `what` says what could not be done, e.g. "POST lineage to http://host/api" (already scrubbed). */
    void afterFailure(String eventJson, String what, Exception cause) throws Exception {
        failures++;
        if (failures == 1 || failures % 100 == 0) {
            LOG.warn("atlas-ml: could not {} ({}; {} failures so far); spooling instead", what,
                    Scrubber.scrubText(String.valueOf(cause)), failures);
        }
        spool.send(eventJson);
    }
}
