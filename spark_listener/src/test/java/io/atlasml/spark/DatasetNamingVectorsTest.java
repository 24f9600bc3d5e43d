package io.atlasml.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The naming vectors the Python naming module is tested against too (tests/vectors/dataset_naming.json): the
 * listener and the plugin must give every dataset the same name, or a model trained on a table the listener
 * saw would not inherit its tags.
 */
class DatasetNamingVectorsTest {
    private static JsonNode vectors() throws IOException {
        Path file = Paths.get(System.getProperty("atlasml.namingVectors", "../tests/vectors/dataset_naming.json"));
        return new ObjectMapper().readTree(Files.readString(file));
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    private static Stream<DynamicTest> cases(String section, java.util.function.Function<JsonNode, String> label,
                                             java.util.function.Consumer<JsonNode> check) throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : vectors().get(section)) {
            tests.add(DynamicTest.dynamicTest(section + ": " + label.apply(c), () -> check.accept(c)));
        }
        assertFalse(tests.isEmpty(), "no vectors in section " + section);
        return tests.stream();
    }

    @TestFactory
    Stream<DynamicTest> paths() throws IOException {
        return cases("paths", c -> text(c, "input"), c -> {
            String base = text(c, "baseDir");
            String[] nn = DatasetNaming.pathNamespaceAndName(text(c, "input"), base != null ? base : "/unused");
            assertEquals(text(c, "namespace"), nn[0]);
            assertEquals(text(c, "name"), nn[1]);
            assertEquals(text(c, "qualifiedName"), DatasetNaming.qualifiedName(nn[0], nn[1]));
        });
    }

    @TestFactory
    Stream<DynamicTest> jdbc() throws IOException {
        return cases("jdbc", c -> text(c, "table"), c -> {
            DatasetRef d = DatasetNaming.jdbc(text(c, "url"), text(c, "table"), null);
            assertEquals(text(c, "namespace"), d.namespace);
            assertEquals(text(c, "name"), d.name);
            assertEquals(text(c, "qualifiedName"), DatasetNaming.qualifiedName(d.namespace, d.name));
        });
    }

    @TestFactory
    Stream<DynamicTest> tables() throws IOException {
        return cases("tables", c -> text(c, "qualifiedName"), c -> {
            Map<String, String> conf = new HashMap<>();
            c.get("conf").fields().forEachRemaining(e -> conf.put(e.getKey(), e.getValue().asText()));
            String base = text(c, "baseDir");
            String namespace = DatasetNaming.tableNamespace(conf::get, text(c, "catalog"),
                    base != null ? base : System.getProperty("user.dir"));
            String database = text(c, "database");
            String name = (database == null ? "" : database + ".") + text(c, "table");
            assertEquals(text(c, "namespace"), namespace);
            assertEquals(text(c, "name"), name);
            assertEquals(text(c, "qualifiedName"), DatasetNaming.qualifiedName(namespace, name));
            if (base == null) { // the public entry point, with the listener's own configuration object
                DatasetRef d = DatasetNaming.table(AtlasConfig.fromMap(conf), text(c, "catalog"), database,
                        text(c, "table"), null, null, null);
                assertEquals(text(c, "namespace"), d.namespace);
            }
        });
    }

    @TestFactory
    Stream<DynamicTest> openlineageNames() throws IOException {
        return cases("openlineage", c -> text(c, "qualifiedName"), c ->
                assertEquals(text(c, "qualifiedName"),
                        DatasetNaming.qualifiedName(text(c, "namespace"), text(c, "name"))));
    }
}
