package io.atlasml.spark;

/** Where events go. Called only from the dispatcher's own thread. */
public interface Transport extends AutoCloseable {
    /** Delivers one RunEvent JSON document; throws when it could not. */
    void send(String eventJson) throws Exception;

    @Override
    default void close() {
    }

    static Transport create(AtlasConfig config) {
        switch (config.transport) {
            case HTTP:
                return new HttpTransport(config.httpUrl, config.httpToken, config.httpTimeoutMs,
                        new SpoolTransport(config.spoolDir));
            case KAFKA:
                return KafkaTransport.create(config);
            case CONSOLE:
                return new ConsoleTransport();
            case SPOOL:
            default:
                return new SpoolTransport(config.spoolDir);
        }
    }
}
