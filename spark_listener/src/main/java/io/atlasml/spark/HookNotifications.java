package io.atlasml.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.zip.GZIPOutputStream;

/**
 * An OpenLineage RunEvent (as this listener spools it) -> the Atlas hook notification the Python side
 * ({@code atlas_mlplugin/transport/lineage.py}, {@code mapping/openlineage.py}) publishes for it: one
 * ENTITY_CREATE_V2 with placeholder datasets for unregistered inputs (UnknownLicense), stubs for outputs that do
 * not exist yet, and the process, linked by placeholder guids; then Atlas's envelope, GZIP-compressed and split
 * as Atlas's AbstractNotification does for large messages.
 *
 * <p>Both sides are held equal by tests/vectors/hook_notifications.json (HookNotificationsVectorsTest here,
 * tests/unit/test_hook_notification_vectors.py there): change one side and its test fails.
 *
 * <p>What exists in Atlas ({@link Known}) decides what is sent, as on the Python side: a placeholder must never
 * overwrite a dataset someone registered (its name, license and description), since Atlas's consumer upserts.
 */
public final class HookNotifications {
    static final ObjectMapper MAPPER = new ObjectMapper();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    static final String ML_DATASET = "ml_dataset";
    static final String ML_MODEL = "ml_model";
    static final String ML_SPARK_PROCESS = "ml_spark_process";
    static final String ML_TRAINING_RUN = "ml_training_run";
    static final String UNREGISTERED = "UNREGISTERED";
    static final int MAX_ERROR = 2000;
    static final int DEFAULT_MAX_LENGTH_BYTES = 1_000_000;
    static final int ENVELOPE_RESERVE = 512;
    private static final Set<String> TERMINAL = Set.of("COMPLETE", "FAIL", "ABORT");
    private static final Map<String, String> STATUS = Map.of("COMPLETE", "COMPLETED", "FAIL", "FAILED",
            "ABORT", "ABORTED");

    private HookNotifications() {
    }

    /** What Atlas already holds, read before the message is built (see AtlasLookup). */
    public static final class Known {
        final Set<String> registeredInputs;
        final Set<String> existingOutputs;
        final boolean processExists;

        public Known(Collection<String> registeredInputs, Collection<String> existingOutputs, boolean processExists) {
            this.registeredInputs = Set.copyOf(registeredInputs);
            this.existingOutputs = Set.copyOf(existingOutputs);
            this.processExists = processExists;
        }

        public static Known nothing() {
            return new Known(List.of(), List.of(), false);
        }
    }

    /** The parts of an event the message is built from: its datasets' Atlas names and its process's. */
    public static final class Plan {
        public final JsonNode event;
        public final List<String> inputs;
        public final List<String> outputs;
        public final String outputType;
        public final String processType;
        public final String processName;

        Plan(JsonNode event) {
            this.event = event;
            this.inputs = names(event.path("inputs"));
            this.outputs = names(event.path("outputs"));
            boolean training = isTraining(event);
            this.outputType = training ? ML_MODEL : ML_DATASET;
            this.processType = training ? ML_TRAINING_RUN : ML_SPARK_PROCESS;
            this.processName = !training && !outputs.isEmpty()
                    ? "spark-write:" + String.join(",", new TreeSet<>(outputs))
                    : Scrubber.scrubUri(event.path("job").path("namespace").asText()) + ":"
                            + event.path("job").path("name").asText();
        }
    }

    /**
     * The plan of an event that ingest would apply (terminal, and writing something or training), else null:
     * a read-only job leads nowhere in the lineage graph, and `atlas-ml ingest` skips it the same way.
     */
    public static Plan plan(JsonNode event) {
        if (!TERMINAL.contains(event.path("eventType").asText())) {
            return null;
        }
        if (!event.path("outputs").elements().hasNext() && !isTraining(event)) {
            return null;
        }
        return new Plan(event);
    }

    static boolean isTraining(JsonNode event) {
        return event.path("run").path("facets").has("atlasMl");
    }

    /** Dataset Atlas names, de-duplicated in order: a catalog table by its TABLE symlink, as naming.py does. */
    static List<String> names(JsonNode datasets) {
        Set<String> out = new LinkedHashSet<>();
        for (JsonNode ds : datasets) {
            String name = null;
            for (JsonNode id : ds.path("facets").path("symlinks").path("identifiers")) {
                if ("TABLE".equals(id.path("type").asText()) && !id.path("namespace").asText().isEmpty()
                        && !id.path("name").asText().isEmpty()) {
                    name = DatasetNaming.qualifiedName(id.path("namespace").asText(), id.path("name").asText());
                    break;
                }
            }
            out.add(name != null ? name
                    : DatasetNaming.qualifiedName(ds.path("namespace").asText(), ds.path("name").asText()));
        }
        return new ArrayList<>(out);
    }

    /** The entities of the ENTITY_CREATE_V2 message: lineage.py's build_batch + link_within_batch + scrub_value. */
    public static ArrayNode entities(Plan plan, Known known) {
        JsonNode event = plan.event;
        String jobName = event.path("job").path("name").asText();
        List<ObjectNode> batch = new ArrayList<>();
        for (String input : plan.inputs) {
            if (known.registeredInputs.contains(input)) {
                continue;
            }
            ObjectNode placeholder = entity(ML_DATASET);
            ObjectNode attrs = (ObjectNode) placeholder.get("attributes");
            attrs.put("qualifiedName", input);
            attrs.put("name", displayName(input));
            attrs.put("declaredLicense", "NOASSERTION");
            attrs.put("description", "Not described yet: recorded because job " + jobName + " read it.");
            ObjectNode tagAttrs = F.objectNode();
            tagAttrs.put("licenseId", UNREGISTERED);
            tagAttrs.put("sourceDataset", input);
            placeholder.putArray("classifications").add(tag("UnknownLicense", tagAttrs));
            batch.add(placeholder);
        }
        for (String output : plan.outputs) {
            if (!known.existingOutputs.contains(output)) {
                ObjectNode stub = entity(plan.outputType);
                ((ObjectNode) stub.get("attributes")).put("qualifiedName", output).put("name", displayName(output));
                batch.add(stub);
            }
        }
        ObjectNode process = process(plan);
        ObjectNode lineageTag = incompleteLineage(plan);
        if (!known.processExists && lineageTag != null) {
            process.putArray("classifications").add(lineageTag);
        }
        batch.add(process);
        return scrubbed(linkWithinBatch(batch));
    }

    /** The hook request ({@code message} of the envelope): ENTITY_CREATE_V2 of the entities. */
    public static ObjectNode createRequest(ArrayNode entities, String user) {
        ObjectNode request = F.objectNode();
        request.put("type", "ENTITY_CREATE_V2");
        request.put("user", user);
        ObjectNode with = request.putObject("entities");
        with.set("entities", entities);
        with.putObject("referredEntities");
        return request;
    }

    private static ObjectNode entity(String type) {
        ObjectNode e = F.objectNode();
        e.put("typeName", type);
        e.putObject("attributes");
        return e;
    }

    private static ObjectNode tag(String type, ObjectNode attributes) {
        ObjectNode t = F.objectNode();
        t.put("typeName", type);
        t.set("attributes", attributes);
        // explicit, as mapping/tags.py: Atlas's default comes from server config and differs between paths
        t.put("propagate", true);
        t.put("removePropagationsOnEntityDelete", false);
        return t;
    }

    static String displayName(String qualifiedName) {
        String s = qualifiedName;
        while (s.endsWith("/")) {
            s = s.substring(0, s.length() - 1);
        }
        String last = s.substring(s.lastIndexOf('/') + 1);
        return last.isEmpty() ? qualifiedName : last;
    }

    private static ObjectNode ref(String type, String qualifiedName) {
        ObjectNode r = F.objectNode();
        r.put("typeName", type);
        r.putObject("uniqueAttributes").put("qualifiedName", qualifiedName);
        return r;
    }

    /** mapping/openlineage.py's process_entity. */
    static ObjectNode process(Plan plan) {
        JsonNode event = plan.event;
        JsonNode facets = event.path("run").path("facets");
        String eventType = event.path("eventType").asText();
        String status = STATUS.getOrDefault(eventType, "RUNNING");
        String when = status.equals("RUNNING") ? "startTime" : "endTime";
        ArrayNode inputs = F.arrayNode();
        plan.inputs.forEach(qn -> inputs.add(ref(ML_DATASET, qn)));
        ArrayNode outputs = F.arrayNode();
        plan.outputs.forEach(qn -> outputs.add(ref(plan.outputType, qn)));
        ObjectNode process = entity(plan.processType);
        ObjectNode a = (ObjectNode) process.get("attributes");
        a.put("qualifiedName", plan.processName);
        a.put("name", event.path("job").path("name").asText());
        if (isTraining(event)) {
            JsonNode ml = facets.get("atlasMl");
            a.put("runId", event.path("run").path("runId").asText());
            a.put("status", status);
            a.put("framework", ml.hasNonNull("framework") ? ml.get("framework").asText() : "spark-ml");
            ObjectNode hyper = F.objectNode();
            for (Iterator<Map.Entry<String, JsonNode>> it = ml.path("params").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> p = it.next();
                hyper.put(p.getKey(), pythonStr(p.getValue()));
            }
            if (hyper.size() > 0) {
                a.set("hyperparameters", hyper);
            }
        } else {
            Map<String, JsonNode> spark = new HashMap<>();
            facets.path("spark_properties").path("properties").fields().forEachRemaining(
                    e -> spark.put(e.getKey(), e.getValue()));
            facets.path("atlasSpark").fields().forEachRemaining(e -> spark.put(e.getKey(), e.getValue()));
            a.put("status", status);
            putFirst(a, "applicationId", spark, "spark.app.id", "applicationId");
            putFirst(a, "applicationName", spark, "spark.app.name", "applicationName");
            if (spark.containsKey("executionId")) {
                a.put("executionId", pythonStr(spark.get("executionId")));
            }
            putFirst(a, "user", spark, "user");
            putFirst(a, "saveMode", spark, "saveMode");
            JsonNode error = facets.path("errorMessage").path("message");
            if (!error.isMissingNode() && !error.isNull() && !pythonStr(error).isEmpty()) {
                String text = Scrubber.scrubText(pythonStr(error));
                a.put("description", text.length() > MAX_ERROR ? text.substring(0, MAX_ERROR) : text);
            }
        }
        if (!inputs.isEmpty()) {
            a.set("inputs", inputs);
        }
        if (!outputs.isEmpty()) {
            a.set("outputs", outputs);
        }
        a.put(when, millis(event.path("eventTime").asText()));
        return process;
    }

    /** Python's {@code a.get(k1) or a.get(k2)}: the first value that is not empty; nothing when none is. */
    private static void putFirst(ObjectNode attrs, String attr, Map<String, JsonNode> from, String... keys) {
        for (String key : keys) {
            JsonNode v = from.get(key);
            if (v != null && !v.isNull() && !(v.isTextual() && v.asText().isEmpty())) {
                attrs.set(attr, v);
                return;
            }
        }
    }

    /** Python's str() of a JSON scalar (the listener writes strings; other producers may not). */
    static String pythonStr(JsonNode v) {
        if (v.isTextual()) {
            return v.asText();
        }
        if (v.isBoolean()) {
            return v.asBoolean() ? "True" : "False";
        }
        if (v.isNull()) {
            return "None";
        }
        return v.toString();
    }

    static long millis(String eventTime) {
        try {
            return OffsetDateTime.parse(eventTime).toInstant().toEpochMilli();
        } catch (RuntimeException e) {
            return Instant.parse(eventTime).toEpochMilli();
        }
    }

    /** mapping/tags.py's incomplete_lineage_tags (a training run must have recorded an input). */
    static ObjectNode incompleteLineage(Plan plan) {
        TreeSet<String> unresolved = new TreeSet<>();
        JsonNode found = plan.event.path("run").path("facets").path("atlasSpark").path("unresolvedInputs");
        if (found.isArray()) {
            found.forEach(u -> unresolved.add(Scrubber.scrubText(pythonStr(u))));
        }
        boolean inputsRequired = isTraining(plan.event);
        if (unresolved.isEmpty() && (!plan.inputs.isEmpty() || !inputsRequired)) {
            return null;
        }
        ObjectNode attrs = F.objectNode();
        attrs.put("reason", unresolved.isEmpty() ? "recorded no input dataset"
                : "read data that could not be named: " + String.join("; ", unresolved));
        if (!unresolved.isEmpty()) {
            ArrayNode list = attrs.putArray("unresolvedInputs");
            unresolved.forEach(list::add);
        }
        attrs.put("sourceProcess", plan.processName);
        return tag("IncompleteLineage", attrs);
    }

    /** mapping/entities.py's link_within_batch: placeholder guids, and references to the batch's own entities. */
    static List<ObjectNode> linkWithinBatch(List<ObjectNode> batch) {
        Map<String, String> guids = new HashMap<>();
        int index = 1;
        for (ObjectNode e : batch) {
            if (!e.hasNonNull("guid")) {
                e.put("guid", "-" + index);
            }
            index++;
            String qn = e.path("attributes").path("qualifiedName").asText(null);
            if (qn != null) {
                guids.put(e.get("typeName").asText() + "\u0000" + qn, e.get("guid").asText());
            }
        }
        for (ObjectNode e : batch) {
            for (String section : List.of("attributes", "relationshipAttributes")) {
                JsonNode attrs = e.get(section);
                if (attrs instanceof ObjectNode) {
                    ObjectNode o = (ObjectNode) attrs;
                    List<String> keys = new ArrayList<>();
                    o.fieldNames().forEachRemaining(keys::add);
                    for (String k : keys) {
                        o.set(k, relink(o.get(k), guids));
                    }
                }
            }
        }
        return batch;
    }

    private static JsonNode relink(JsonNode value, Map<String, String> guids) {
        if (value.isArray()) {
            ArrayNode out = F.arrayNode();
            value.forEach(v -> out.add(relink(v, guids)));
            return out;
        }
        if (value.isObject() && value.has("uniqueAttributes") && value.has("typeName")) {
            String key = value.get("typeName").asText() + "\u0000"
                    + value.get("uniqueAttributes").path("qualifiedName").asText();
            String guid = guids.get(key);
            if (guid != null) {
                ObjectNode out = F.objectNode();
                out.put("guid", guid);
                out.put("typeName", value.get("typeName").asText());
                return out;
            }
        }
        return value;
    }

    /** scrubbing.py's scrub_value: every string scrubbed as a name. */
    private static ArrayNode scrubbed(List<ObjectNode> batch) {
        ArrayNode out = F.arrayNode();
        batch.forEach(e -> out.add(scrub(e)));
        return out;
    }

    static JsonNode scrub(JsonNode value) {
        if (value.isTextual()) {
            return F.textNode(Scrubber.scrubName(value.asText()));
        }
        if (value.isArray()) {
            ArrayNode out = F.arrayNode();
            value.forEach(v -> out.add(scrub(v)));
            return out;
        }
        if (value.isObject()) {
            ObjectNode out = F.objectNode();
            value.fields().forEachRemaining(e -> out.set(e.getKey(), scrub(e.getValue())));
            return out;
        }
        return value;
    }

    // --- Atlas's envelope (notification.py's encode) -------------------------------------------------------

    /**
     * The Kafka message values for one request: one plain envelope when it fits, else one GZIP+base64 message,
     * else that text split into parts. All must go with one key, in order.
     */
    public static List<byte[]> encode(ObjectNode request, int maxLengthBytes, long nowMs, String sourceIp) {
        int limit = maxLengthBytes - ENVELOPE_RESERVE;
        if (limit <= 0) {
            throw new IllegalArgumentException("atlas.notification.message.max.length.bytes=" + maxLengthBytes
                    + " leaves no room for a message (Atlas keeps " + ENVELOPE_RESERVE
                    + " bytes for the envelope); use the server's value");
        }
        ObjectNode envelope = F.objectNode();
        envelope.putObject("version").put("version", "1.0.0");
        envelope.put("msgCompressionKind", "NONE");
        envelope.put("msgSplitIdx", 1);
        envelope.put("msgSplitCount", 1);
        envelope.put("msgSourceIP", sourceIp);
        envelope.put("msgCreatedBy", request.path("user").asText());
        envelope.put("msgCreationTime", nowMs);
        envelope.set("message", request);
        byte[] data = envelope.toString().getBytes(StandardCharsets.UTF_8);
        List<byte[]> out = new ArrayList<>();
        if (data.length <= limit) {
            out.add(data);
            return out;
        }
        String msgId = UUID.randomUUID() + "_0";
        String packed = Base64.getEncoder().encodeToString(gzip(data));
        if (packed.length() <= limit) {
            out.add(stringMessage(msgId, 1, 1, packed));
            return out;
        }
        int count = (packed.length() + limit - 1) / limit;
        for (int i = 0; i < count; i++) {
            out.add(stringMessage(msgId, i, count,
                    packed.substring(i * limit, Math.min(packed.length(), (i + 1) * limit))));
        }
        return out;
    }

    private static byte[] stringMessage(String msgId, int idx, int count, String text) {
        ObjectNode m = F.objectNode();
        m.putObject("version").put("version", "1.0.0");
        m.put("msgId", msgId);
        m.put("msgCompressionKind", "GZIP");
        m.put("msgSplitIdx", idx);
        m.put("msgSplitCount", count);
        m.put("message", text);
        return m.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] gzip(byte[] data) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bytes)) {
            gz.write(data);
        } catch (IOException e) {
            throw new IllegalStateException(e); // in memory: cannot happen
        }
        return bytes.toByteArray();
    }
}
