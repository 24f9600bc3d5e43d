package io.atlasml.spark;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The facts of one run event, captured on Spark's listener thread (cheap: identifiers, schemas, times) and
 * turned into JSON on the dispatcher's own thread. Holds nothing that references Spark objects.
 */
public final class LineageRecord {
    public enum EventType { START, COMPLETE, FAIL }

    public EventType eventType = EventType.COMPLETE;
    public UUID runId;
    public long eventTimeMs;
    public String jobName;
    public String applicationId;
    public String applicationName;
    public String user;
    public String executionId;
    public String command;
    public String saveMode;
    public Long startTimeMs;
    public Long endTimeMs;
    /** Unscrubbed here; EventBuilder scrubs it. */
    public String errorMessage;
    public String errorClass;
    public final List<DatasetRef> inputs = new ArrayList<>();
    public final List<DatasetRef> outputs = new ArrayList<>();
    /** What the run read that no one could name ("Kind: why"): the plugin marks its lineage incomplete. */
    public final List<String> unresolvedInputs = new ArrayList<>();
    /** The run this one is part of (a Pipeline's fit, for the fit of one of its stages), or null. */
    public java.util.UUID parentRunId;
    public String parentJobName;
    /** The atlasMl run facet's content, or null for plain SQL executions. */
    public Map<String, Object> ml;

    public static UUID stableRunId(String... parts) {
        return UUID.nameUUIDFromBytes(String.join("\u0000", parts).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    public Map<String, Object> mlFacet() {
        if (ml == null) {
            ml = new LinkedHashMap<>();
        }
        return ml;
    }
}
