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
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The scrubbing vectors the plugin's scrubbing.py is tested against too (tests/vectors/scrubbing.json): the
 * listener must give every vector the plugin's output (a dataset name must not depend on which side scrubbed
 * it), and no listed secret may survive.
 */
class ScrubberVectorsTest {
    @BeforeAll
    static void noRememberedSecrets() {
        Scrubber.forgetSecrets(); // the vectors are the shared rules alone
    }

    private static JsonNode vectors() throws IOException {
        Path file = Paths.get(System.getProperty("atlasml.scrubbingVectors", "../tests/vectors/scrubbing.json"));
        return new ObjectMapper().readTree(Files.readString(file));
    }

    private static Stream<DynamicTest> cases(String section, UnaryOperator<String> scrub) throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : vectors().get(section)) {
            String in = c.get("in").asText();
            tests.add(DynamicTest.dynamicTest(section + ": " + in, () -> {
                String out = scrub.apply(in);
                assertEquals(c.get("out").asText(), out, "input: " + in);
                for (JsonNode secret : c.get("secrets")) {
                    assertFalse(out.contains(secret.asText()), secret.asText() + " survived in " + out);
                }
            }));
        }
        assertFalse(tests.isEmpty(), "no vectors in section " + section);
        return tests.stream();
    }

    @TestFactory
    Stream<DynamicTest> text() throws IOException {
        return cases("text", Scrubber::scrubText);
    }

    @TestFactory
    Stream<DynamicTest> name() throws IOException {
        return cases("name", Scrubber::scrubName);
    }

    @TestFactory
    Stream<DynamicTest> uri() throws IOException {
        return cases("uri", Scrubber::scrubUri);
    }
}
