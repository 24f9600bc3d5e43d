package io.atlasml.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.Union;
import org.apache.spark.sql.connector.catalog.CatalogPlugin;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.execution.datasources.SaveIntoDataSourceCommand;
import org.apache.spark.sql.execution.datasources.jdbc.JdbcRelationProvider;
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A listener event made from a real Spark plan whose table names, paths, URLs, application name, job name and
 * error carry credentials in every shape the scrubber knows: none of them reaches the event, the spool file
 * or the HTTP receiver, and the spool file is readable by its owner only.
 */
class EmittedEventSecretsTest {
    /** Each appears once in the input; any occurrence in what the listener ships is a leak. */
    private static final List<String> SECRETS = List.of("UrlPw1111", "ParamPw2222", "TablePw3333", "OraclePw44",
            "CatalogPw5555", "S3Secret6666", "ApiKey7777", "SasSig8888", "AppPw9999", "EstimatorTok10", "Bearer1111abcdef",
            "ErrPw1212", "OptionPw1313", "ParamValuePw14", "ColumnTok15");

    @AfterEach
    void forget() {
        Scrubber.forgetSecrets();
    }

    /** A DataSource V2 table of a test catalog. */
    private static final class FakeTable implements Table {
        private final String name;
        private final Map<String, String> properties;

        FakeTable(String name, Map<String, String> properties) {
            this.name = name;
            this.properties = properties;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        @SuppressWarnings("deprecation") // columns() is Spark 4's; schema() is what both lines have
        public StructType schema() {
            return new StructType().add("id", DataTypes.IntegerType).add("note token=ColumnTok15", DataTypes.StringType);
        }

        @Override
        public Map<String, String> properties() {
            return properties;
        }

        @Override
        public Set<TableCapability> capabilities() {
            return Set.of(TableCapability.BATCH_READ);
        }
    }

    private static final class FakeCatalog implements CatalogPlugin {
        @Override
        public void initialize(String name, CaseInsensitiveStringMap options) {
        }

        @Override
        public String name() {
            return "pg";
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"}) // Scala's immutable Map, built the same way on 2.12 and 2.13
    private static scala.collection.immutable.Map<String, String> scalaMap(Map<String, String> m) {
        scala.collection.immutable.Map out = (scala.collection.immutable.Map) scala.collection.immutable.Map$.MODULE$.empty();
        for (Map.Entry<String, String> e : m.entrySet()) {
            out = (scala.collection.immutable.Map) out.updated(e.getKey(), e.getValue());
        }
        return out;
    }

    /** INSERT into a JDBC table (URL and table name with credentials) of the union of two V2 tables. */
    private static LogicalPlan plan() {
        Map<String, String> location = Map.of("location",
                "s3a://AKIAIOSFODNN7EXAMPLE:S3Secret6666@bucket/data/api_key=ApiKey7777/part-0");
        LogicalPlan catalogTable = DataSourceV2Relation.create(new FakeTable("events", location),
                scala.Option.apply(new FakeCatalog()),
                scala.Option.apply(Identifier.of(new String[] {"public"}, "events;password=TablePw3333")),
                new CaseInsensitiveStringMap(Map.of("password", "OptionPw1313")));
        LogicalPlan pathTable = DataSourceV2Relation.create(new FakeTable("files", Map.of()), scala.Option.empty(),
                scala.Option.empty(), new CaseInsensitiveStringMap(Map.of("path",
                        "https://acct.blob.core.windows.net/c/f.csv?sv=2022-11-02&sig=SasSig8888")));
        List<LogicalPlan> children = List.of(catalogTable, pathTable);
        LogicalPlan union = new Union(scala.collection.JavaConverters.asScalaBuffer(children).toList(), false, false);
        Map<String, String> options = new LinkedHashMap<>();
        options.put("url", "jdbc:postgresql://bob:UrlPw1111@db:5432/app?sslmode=require&password=ParamPw2222");
        options.put("dbtable", "scott/OraclePw44@orcl.customers");
        return new SaveIntoDataSourceCommand(union, new JdbcRelationProvider(), scalaMap(options), SaveMode.Append);
    }

    private static LineageRecord record() {
        AtlasConfig config = AtlasConfig.fromMap(Map.of("spark.sql.catalog.pg.url",
                "jdbc:postgresql://db/app?user=u&password=CatalogPw5555"));
        PlanExtractor.Facts facts = new PlanExtractor(config).extract(plan());
        LineageRecord r = new LineageRecord();
        r.eventType = LineageRecord.EventType.FAIL;
        r.runId = LineageRecord.stableRunId("app-1", "sql", "3");
        r.eventTimeMs = 1_700_000_000_000L;
        r.applicationId = "app-1";
        r.applicationName = "nightly etl password=AppPw9999";
        r.executionId = "3";
        r.user = "alice";
        r.command = facts.command;
        r.saveMode = facts.saveMode;
        r.inputs.addAll(facts.inputs);
        r.outputs.addAll(facts.outputs);
        r.jobName = AtlasQueryListener.jobName(r.applicationName, facts, r.executionId);
        r.parentRunId = LineageRecord.stableRunId("app-1", "fit", "pipeline");
        r.parentJobName = MlEventHandler.jobName(r.applicationName, "Pipeline_1 token=EstimatorTok10");
        r.errorClass = "java.sql.SQLException";
        r.errorMessage = "Authorization: Bearer Bearer1111abcdef rejected; retried with password=ErrPw1212";
        r.ml = new LinkedHashMap<>();
        // a param value cut at 500 characters right between the password and its "@"
        r.ml.put("params", Map.of("connection", MlEventHandler.stringify("x".repeat(465)
                + " jdbc:postgresql://u:ParamValuePw14@db/app")));
        return r;
    }

    private static void assertNoSecret(String where, String shipped) {
        for (String secret : SECRETS) {
            assertFalse(shipped.contains(secret), secret + " leaked into " + where + ": " + shipped);
        }
    }

    @Test
    void theEventCarriesNoCredentialButKeepsTheNames() throws Exception {
        String json = new EventBuilder("spark", "3.5.9").toJson(record());
        assertNoSecret("the event", json);

        JsonNode e = new ObjectMapper().readTree(json);
        // what the names are for is still there: the same table read with or without a password is one table
        assertEquals("jdbc:postgresql://db:5432/app?sslmode=require", e.at("/outputs/0/namespace").asText());
        assertEquals("scott/***@orcl.customers", e.at("/outputs/0/name").asText());
        assertEquals("jdbc:postgresql://db/app", e.at("/inputs/0/namespace").asText());
        assertEquals("public.events", e.at("/inputs/0/name").asText());
        assertEquals("/data/api_key=***/part-0", e.at("/inputs/0/facets/symlinks/identifiers/0/name").asText());
        assertEquals("https://acct.blob.core.windows.net", e.at("/inputs/1/namespace").asText());
        assertEquals("nightly etl password=***", e.at("/run/facets/atlasSpark/applicationName").asText());
        assertTrue(e.at("/job/name").asText().startsWith("nightly_etl_password_.save_into_data_source_command."),
                e.at("/job/name").asText());
        assertTrue(e.at("/run/facets/errorMessage/message").asText().startsWith("java.sql.SQLException: "));
    }

    @Test
    void theSpoolFileIsOwnerOnlyAndCarriesNoCredential(@TempDir Path dir) throws Exception {
        Path spool = dir.resolve("spool");
        new SpoolTransport(spool).send(new EventBuilder("spark", "3.5.9").toJson(record()));
        List<Path> files;
        try (Stream<Path> s = Files.list(spool)) {
            files = s.collect(Collectors.toList());
        }
        assertEquals(1, files.size());
        assertNoSecret("the spool file", Files.readString(files.get(0)));
        if (spool.getFileSystem().supportedFileAttributeViews().contains("posix")) {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(files.get(0))));
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(spool)));
        }
    }

    @Test
    void theHttpReceiverGetsNoCredential(@TempDir Path dir) throws Exception {
        List<String> bodies = new ArrayList<>();
        List<String> auth = new ArrayList<>();
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/api/v1/lineage", exchange -> {
            bodies.add(new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            auth.add(exchange.getRequestHeaders().getFirst("Authorization"));
            exchange.sendResponseHeaders(201, -1);
            exchange.close();
        });
        server.start();
        try {
            String url = "http://127.0.0.1:" + server.getAddress().getPort() + "/api/v1/lineage";
            new HttpTransport(url, "receiver-token", 5000, new SpoolTransport(dir))
                    .send(new EventBuilder("spark", "3.5.9").toJson(record()));
        } finally {
            server.stop(0);
        }
        assertEquals(1, bodies.size());
        assertNoSecret("the POST body", bodies.get(0));
        assertEquals("Bearer receiver-token", auth.get(0)); // the receiver's own token goes in its header only
        assertFalse(bodies.get(0).contains("receiver-token"));
    }
}
