package io.atlasml.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * LineageRecord -> OpenLineage RunEvent JSON (spec 2-0-2), with standard facets (schema, dataSource,
 * symlinks, errorMessage, processing_engine) and two custom run facets: {@code atlasSpark} (application,
 * execution, user, save mode, times) and {@code atlasMl} (estimator, params, model path).
 *
 * <p>This is the last place before the spool, the HTTP receiver or the console, so nothing leaves unscrubbed:
 * each field goes through the Scrubber rule for what it is (namespaces and URIs as URIs, names as names, the
 * error message as text), and then every string of the finished event is scrubbed as a name once more (the
 * plugin's scrub_value over an event), which catches whatever a field-by-field rule missed: column names and
 * types, formats, commands, ML params. Only our own identifiers and timestamps are left alone.
 */
public final class EventBuilder {
    public static final String VERSION = "0.1.0";
    public static final String PRODUCER = "urn:atlas-mlplugin:spark-listener:" + VERSION;
    public static final String SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
    static final String SCHEMA_FACET = "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
    static final String DATASOURCE_FACET = "https://openlineage.io/spec/facets/1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet";
    static final String SYMLINKS_FACET = "https://openlineage.io/spec/facets/1-0-1/SymlinksDatasetFacet.json#/$defs/SymlinksDatasetFacet";
    static final String ERROR_FACET = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
    static final String ENGINE_FACET = "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet";
    static final String PARENT_FACET = "https://openlineage.io/spec/facets/1-1-0/ParentRunFacet.json#/$defs/ParentRunFacet";
    /** Our own facets: their JSON Schemas ship in the jar under io/atlasml/spark/facets/. */
    static final String ATLAS_SPARK_FACET = "urn:atlas-mlplugin:facets:AtlasSparkRunFacet:1-1-0";
    static final String ATLAS_ML_FACET = "urn:atlas-mlplugin:facets:AtlasMlRunFacet:1-0-0";
    private static final int MAX_ERROR = 2000;
    /**
     * An error message is cut to this before it is scrubbed (a plan in a Spark error can be megabytes, and
     * scrubbing is slower than linear on some text), and to MAX_ERROR after, so a secret split by the first
     * cut is dropped by the second.
     */
    private static final int MAX_ERROR_SCRUBBED = 4 * MAX_ERROR;
    /** Values we make ourselves (ids, times, schema URLs): the final pass leaves them as they are. */
    private static final java.util.Set<String> OWN_VALUES = java.util.Set.of("eventType", "eventTime", "runId",
            "producer", "schemaURL", "_producer", "_schemaURL", "startTime", "endTime", "trainingRunId",
            "programmingLanguage", "status");

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private final String namespace;
    private final String sparkVersion;

    public EventBuilder(String namespace, String sparkVersion) {
        this.namespace = namespace;
        this.sparkVersion = sparkVersion;
    }

    public String toJson(LineageRecord r) {
        try {
            return MAPPER.writeValueAsString(toTree(r));
        } catch (Exception e) {
            throw new IllegalStateException("cannot serialize event", e);
        }
    }

    public ObjectNode toTree(LineageRecord r) {
        ObjectNode event = fields(r);
        scrubStrings(event);
        return event;
    }

    private ObjectNode fields(LineageRecord r) {
        ObjectNode event = MAPPER.createObjectNode();
        event.put("eventType", r.eventType.name());
        event.put("eventTime", Instant.ofEpochMilli(r.eventTimeMs).toString());
        event.put("producer", PRODUCER);
        event.put("schemaURL", SPEC);

        ObjectNode run = event.putObject("run");
        run.put("runId", r.runId.toString());
        ObjectNode runFacets = run.putObject("facets");
        ObjectNode spark = facet(runFacets, "atlasSpark", ATLAS_SPARK_FACET);
        putIfNotNull(spark, "applicationId", Scrubber.scrubName(r.applicationId));
        putIfNotNull(spark, "applicationName", Scrubber.scrubName(r.applicationName));
        putIfNotNull(spark, "executionId", Scrubber.scrubName(r.executionId));
        putIfNotNull(spark, "user", Scrubber.scrubName(r.user));
        putIfNotNull(spark, "command", Scrubber.scrubName(r.command));
        putIfNotNull(spark, "saveMode", Scrubber.scrubName(r.saveMode));
        if (r.startTimeMs != null) {
            spark.put("startTime", Instant.ofEpochMilli(r.startTimeMs).toString());
        }
        if (r.endTimeMs != null) {
            spark.put("endTime", Instant.ofEpochMilli(r.endTimeMs).toString());
        }
        spark.put("status", r.eventType == LineageRecord.EventType.FAIL ? "FAILED"
                : r.eventType == LineageRecord.EventType.START ? "RUNNING" : "SUCCEEDED");
        if (!r.unresolvedInputs.isEmpty()) {
            ArrayNode unresolved = spark.putArray("unresolvedInputs");
            r.unresolvedInputs.forEach(u -> unresolved.add(Scrubber.scrubText(u)));
        }
        if (sparkVersion != null) {
            ObjectNode engine = facet(runFacets, "processing_engine", ENGINE_FACET);
            engine.put("version", sparkVersion);
            engine.put("name", "spark");
            engine.put("openlineageAdapterVersion", VERSION);
        }
        if (r.eventType == LineageRecord.EventType.FAIL) {
            ObjectNode error = facet(runFacets, "errorMessage", ERROR_FACET);
            String msg = r.errorMessage == null ? "(no message)" : r.errorMessage;
            if (r.errorClass != null) {
                msg = r.errorClass + ": " + msg;
            }
            msg = Scrubber.scrubText(msg.length() > MAX_ERROR_SCRUBBED ? msg.substring(0, MAX_ERROR_SCRUBBED) : msg);
            error.put("message", msg.length() > MAX_ERROR ? msg.substring(0, MAX_ERROR) : msg);
            error.put("programmingLanguage", "JAVA");
        }
        if (r.parentRunId != null && r.parentJobName != null) {
            ObjectNode parent = facet(runFacets, "parent", PARENT_FACET);
            parent.putObject("run").put("runId", r.parentRunId.toString());
            ObjectNode parentJob = parent.putObject("job");
            parentJob.put("namespace", Scrubber.scrubName(namespace));
            parentJob.put("name", Scrubber.scrubName(r.parentJobName));
        }
        if (r.ml != null) {
            ObjectNode ml = facet(runFacets, "atlasMl", ATLAS_ML_FACET);
            for (Map.Entry<String, Object> e : r.ml.entrySet()) {
                ml.set(e.getKey(), MAPPER.valueToTree(scrubValue(e.getKey(), e.getValue())));
            }
        }

        ObjectNode job = event.putObject("job");
        job.put("namespace", Scrubber.scrubName(namespace));
        job.put("name", Scrubber.scrubName(r.jobName));
        ObjectNode jobFacets = job.putObject("facets");
        ObjectNode jobType = facet(jobFacets, "jobType",
                "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet");
        jobType.put("processingType", "BATCH");
        jobType.put("integration", "SPARK");
        jobType.put("jobType", r.ml != null ? "ML_TRAINING" : "SQL_JOB");

        datasets(event.putArray("inputs"), r.inputs);
        datasets(event.putArray("outputs"), r.outputs);
        return event;
    }

    private void datasets(ArrayNode array, List<DatasetRef> refs) {
        for (DatasetRef d : refs) {
            ObjectNode ds = array.addObject();
            ds.put("namespace", Scrubber.scrubUri(d.namespace));
            ds.put("name", Scrubber.scrubName(d.name));
            ObjectNode facets = ds.putObject("facets");
            if (!d.fields.isEmpty()) {
                ArrayNode fields = facet(facets, "schema", SCHEMA_FACET).putArray("fields");
                for (DatasetRef.Field f : d.fields) {
                    ObjectNode field = fields.addObject();
                    field.put("name", f.name);
                    if (f.type != null) {
                        field.put("type", f.type);
                    }
                }
            }
            ObjectNode source = facet(facets, "dataSource", DATASOURCE_FACET);
            source.put("name", Scrubber.scrubUri(d.namespace));
            source.put("uri", Scrubber.scrubUri(d.sourceUri != null ? d.sourceUri : d.namespace));
            if (d.symlink != null) {
                ObjectNode id = facet(facets, "symlinks", SYMLINKS_FACET).putArray("identifiers").addObject();
                id.put("namespace", Scrubber.scrubUri(d.symlink.namespace));
                id.put("name", Scrubber.scrubName(d.symlink.name));
                id.put("type", "LOCATION");
            }
            if (d.format != null) {
                ObjectNode storage = facet(facets, "storage",
                        "https://openlineage.io/spec/facets/1-0-1/StorageDatasetFacet.json#/$defs/StorageDatasetFacet");
                storage.put("storageLayer", "spark");
                storage.put("fileFormat", d.format);
            }
        }
    }

    /**
     * Every string of the event (not the keys) scrubbed as a name, except our own ids, times and URLs: the
     * plugin scrubs an event the same way, and scrubbing twice changes nothing.
     */
    private static void scrubStrings(JsonNode node) {
        if (node instanceof ObjectNode) {
            java.util.Iterator<Map.Entry<String, JsonNode>> fields = node.fields();
            while (fields.hasNext()) {
                Map.Entry<String, JsonNode> field = fields.next();
                if (field.getValue().isTextual()) {
                    if (!OWN_VALUES.contains(field.getKey())) {
                        field.setValue(new TextNode(Scrubber.scrubName(field.getValue().asText())));
                    }
                } else {
                    scrubStrings(field.getValue());
                }
            }
        } else if (node instanceof ArrayNode) {
            ArrayNode array = (ArrayNode) node;
            for (int i = 0; i < array.size(); i++) {
                if (array.get(i).isTextual()) {
                    array.set(i, new TextNode(Scrubber.scrubName(array.get(i).asText())));
                } else {
                    scrubStrings(array.get(i));
                }
            }
        }
    }

    /** ML params and the like: secret-looking keys dropped, string values scrubbed. */
    @SuppressWarnings("unchecked")
    static Object scrubValue(String key, Object value) {
        if (value instanceof Map) {
            Map<String, Object> out = new java.util.LinkedHashMap<>();
            for (Map.Entry<String, Object> e : ((Map<String, Object>) value).entrySet()) {
                if (!Scrubber.isSecretKey(e.getKey())) {
                    out.put(e.getKey(), scrubValue(e.getKey(), e.getValue()));
                }
            }
            return out;
        }
        if (value instanceof List) {
            List<Object> out = new java.util.ArrayList<>();
            for (Object o : (List<Object>) value) {
                out.add(scrubValue(key, o));
            }
            return out;
        }
        if (value instanceof String) {
            return key.toLowerCase().contains("path") || key.toLowerCase().contains("uri")
                    ? Scrubber.scrubUri((String) value) : Scrubber.scrubText((String) value);
        }
        return value;
    }

    private static ObjectNode facet(ObjectNode parent, String name, String schemaUrl) {
        ObjectNode f = parent.putObject(name);
        f.put("_producer", PRODUCER);
        f.put("_schemaURL", schemaUrl);
        return f;
    }

    private static void putIfNotNull(ObjectNode node, String key, String value) {
        if (value != null) {
            node.put(key, value);
        }
    }
}
