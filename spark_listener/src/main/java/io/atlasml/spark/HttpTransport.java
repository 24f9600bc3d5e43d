package io.atlasml.spark;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * POSTs each event to the plugin's receiver (an OpenLineage HTTP endpoint), with a bounded timeout; when it
 * cannot (down, slow, non-2xx), the event goes to the spool instead, so nothing is lost.
 */
public final class HttpTransport implements Transport {
    private static final ScrubbedLogger LOG = ScrubbedLogger.of(HttpTransport.class);
    private final URI url;
    private final String token;
    private final Duration timeout;
    private final SpoolFallback fallback;
    private final HttpClient client;

    public HttpTransport(String url, String token, int timeoutMs, Transport fallback) {
        URI parsed = null;
        try {
            parsed = url == null || url.isBlank() ? null : URI.create(url.trim());
        } catch (IllegalArgumentException e) {
            LOG.warn("atlas-ml: spark.atlas.http.url is not a URI; events go to the spool");
        }
        this.url = parsed;
        this.token = token;
        this.timeout = Duration.ofMillis(timeoutMs);
        this.fallback = new SpoolFallback(fallback);
        this.client = HttpClient.newBuilder().connectTimeout(timeout)
                .followRedirects(HttpClient.Redirect.NEVER).build();
    }

    @Override
    public void send(String eventJson) throws Exception {
        if (url == null) {
            fallback.send(eventJson);
            return;
        }
        try {
            HttpRequest.Builder req = HttpRequest.newBuilder(url).timeout(timeout)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(eventJson));
            if (token != null && !token.isBlank()) {
                req.header("Authorization", "Bearer " + token.trim());
            }
            HttpResponse<Void> resp = client.send(req.build(), HttpResponse.BodyHandlers.discarding());
            if (resp.statusCode() / 100 != 2) {
                throw new java.io.IOException("HTTP " + resp.statusCode());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fallback.send(eventJson);
        } catch (Exception e) {
            fallback.afterFailure(eventJson, "POST lineage to " + Scrubber.scrubUri(url.toString()), e);
        }
    }
}
