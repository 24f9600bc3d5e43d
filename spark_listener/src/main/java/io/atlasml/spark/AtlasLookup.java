package io.atlasml.spark;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * Reads over Atlas's REST API which of an event's entities exist, as the Python side does before it builds a
 * hook message: Atlas's hook consumer upserts, so a placeholder sent for a dataset someone registered would
 * overwrite its name, license and description. One GET per name (minExtInfo, no relationships).
 */
public final class AtlasLookup {
    private final URI base;
    private final String authorization;
    private final Duration timeout;
    private final HttpClient client;

    public AtlasLookup(String url, String user, String password, int timeoutMs) {
        String trimmed = url.trim().replaceAll("/+$", "");
        this.base = URI.create(trimmed + "/");
        this.authorization = user == null || user.isBlank() ? null : "Basic " + Base64.getEncoder().encodeToString(
                (user.trim() + ":" + (password == null ? "" : password)).getBytes(StandardCharsets.UTF_8));
        this.timeout = Duration.ofMillis(timeoutMs);
        this.client = HttpClient.newBuilder().connectTimeout(timeout)
                .followRedirects(HttpClient.Redirect.NEVER).build();
    }

    /** The Known state of a plan's entities; throws when Atlas cannot be read (the event is spooled). */
    public HookNotifications.Known known(HookNotifications.Plan plan, java.util.Set<String> published)
            throws IOException, InterruptedException {
        List<String> registered = new ArrayList<>();
        for (String input : plan.inputs) {
            // an output this listener published and Atlas has not applied yet is no unregistered input
            if (published.contains(input) || exists(HookNotifications.ML_DATASET, input)) {
                registered.add(input);
            }
        }
        List<String> existing = new ArrayList<>();
        for (String output : plan.outputs) {
            if (exists(plan.outputType, output)) {
                existing.add(output);
            }
        }
        boolean process = published.contains(plan.processName) || exists(plan.processType, plan.processName);
        return new HookNotifications.Known(registered, existing, process);
    }

    boolean exists(String type, String qualifiedName) throws IOException, InterruptedException {
        URI uri = base.resolve("api/atlas/v2/entity/uniqueAttribute/type/" + type + "?attr:qualifiedName="
                + URLEncoder.encode(qualifiedName, StandardCharsets.UTF_8) + "&minExtInfo=true&ignoreRelationships=true");
        HttpRequest.Builder req = HttpRequest.newBuilder(uri).timeout(timeout).header("Accept", "application/json")
                .GET();
        if (authorization != null) {
            req.header("Authorization", authorization);
        }
        HttpResponse<Void> resp = client.send(req.build(), HttpResponse.BodyHandlers.discarding());
        if (resp.statusCode() == 200) {
            return true;
        }
        if (resp.statusCode() == 404) {
            return false;
        }
        throw new IOException("Atlas answered HTTP " + resp.statusCode() + " to a read of " + type
                + " (check spark.atlas.rest.user and its read permission)");
    }
}
