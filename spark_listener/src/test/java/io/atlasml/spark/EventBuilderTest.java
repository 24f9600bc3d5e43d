package io.atlasml.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class EventBuilderTest {
    private final EventBuilder builder = new EventBuilder("spark", "3.5.9");

    @AfterEach
    void forget() {
        Scrubber.forgetSecrets();
    }

    private static LineageRecord record() {
        LineageRecord r = new LineageRecord();
        r.runId = LineageRecord.stableRunId("app-1", "sql", "7");
        r.eventTimeMs = 1_700_000_000_000L;
        r.startTimeMs = 1_699_999_999_000L;
        r.endTimeMs = 1_700_000_000_000L;
        r.jobName = "etl.insert_into_hadoop_fs_relation_command.tmp_out";
        r.applicationId = "app-1";
        r.applicationName = "etl";
        r.user = "alice";
        r.executionId = "7";
        r.saveMode = "Overwrite";
        r.inputs.add(DatasetNaming.path("file:/tmp/in.csv", "csv",
                List.of(new DatasetRef.Field("id", "int"), new DatasetRef.Field("name", "string"))));
        r.outputs.add(DatasetNaming.jdbc("jdbc:postgresql://db/app?user=bob&password=hunter22", "public.t", null));
        return r;
    }

    @Test
    void runEventShape() throws Exception {
        JsonNode e = new ObjectMapper().readTree(builder.toJson(record()));
        assertEquals("COMPLETE", e.get("eventType").asText());
        assertEquals("2023-11-14T22:13:20Z", e.get("eventTime").asText());
        assertEquals(EventBuilder.PRODUCER, e.get("producer").asText());
        assertTrue(e.get("schemaURL").asText().startsWith("https://openlineage.io/spec/2-0-2/OpenLineage.json"));
        assertEquals(LineageRecord.stableRunId("app-1", "sql", "7").toString(), e.at("/run/runId").asText());
        JsonNode spark = e.at("/run/facets/atlasSpark");
        assertEquals("app-1", spark.get("applicationId").asText());
        assertEquals("etl", spark.get("applicationName").asText());
        assertEquals("7", spark.get("executionId").asText());
        assertEquals("alice", spark.get("user").asText());
        assertEquals("Overwrite", spark.get("saveMode").asText());
        assertTrue(spark.has("_producer") && spark.has("_schemaURL"));
        assertEquals("spark", e.at("/job/namespace").asText());
        assertEquals("file", e.at("/inputs/0/namespace").asText());
        assertEquals("/tmp/in.csv", e.at("/inputs/0/name").asText());
        assertEquals("id", e.at("/inputs/0/facets/schema/fields/0/name").asText());
        assertEquals("file:///tmp/in.csv", e.at("/inputs/0/facets/dataSource/uri").asText());
        assertEquals("jdbc:postgresql://db/app", e.at("/outputs/0/namespace").asText());
        assertEquals("public.t", e.at("/outputs/0/name").asText());
        assertFalse(e.at("/run/facets").has("errorMessage"));
    }

    @Test
    void failureCarriesAScrubbedMessage() throws Exception {
        Scrubber.rememberSecrets(Map.of("password", "hunter22"));
        LineageRecord r = record();
        r.eventType = LineageRecord.EventType.FAIL;
        r.errorClass = "java.sql.SQLException";
        r.errorMessage = "login failed for bob using hunter22 at jdbc:postgresql://bob:hunter22@db/app";
        String json = builder.toJson(r);
        assertFalse(json.contains("hunter22"), json);
        JsonNode e = new ObjectMapper().readTree(json);
        assertEquals("FAIL", e.get("eventType").asText());
        assertTrue(e.at("/run/facets/errorMessage/message").asText().startsWith("java.sql.SQLException: "));
        assertEquals("JAVA", e.at("/run/facets/errorMessage/programmingLanguage").asText());
    }

    @Test
    void mlFacetDropsSecretParams() throws Exception {
        LineageRecord r = record();
        r.ml = new java.util.LinkedHashMap<>();
        r.ml.put("estimatorClass", "org.apache.spark.ml.Pipeline");
        r.ml.put("params", Map.of("maxIter", "5", "apiToken", "tok-123456"));
        r.ml.put("modelPath", "s3a://k:s@bucket/model");
        JsonNode e = new ObjectMapper().readTree(builder.toJson(r));
        JsonNode ml = e.at("/run/facets/atlasMl");
        assertEquals("5", ml.at("/params/maxIter").asText());
        assertFalse(ml.get("params").has("apiToken"));
        assertEquals("s3a://bucket/model", ml.get("modelPath").asText());
        assertEquals("ML_TRAINING", e.at("/job/facets/jobType/jobType").asText());
    }
}
