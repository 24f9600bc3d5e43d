package io.atlasml.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * tests/vectors/hook_notifications.json, which the Python side is tested against too: for each event and what
 * Atlas holds, the kafka transport must publish exactly the hook request lineage.py publishes (same entities,
 * attributes, references and classifications), and no credential of the event may reach it.
 */
class HookNotificationsVectorsTest {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    @BeforeAll
    static void noRememberedSecrets() {
        Scrubber.forgetSecrets(); // the vectors rely on the shared rules alone
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(v -> out.add(v.asText()));
        return out;
    }

    @TestFactory
    Stream<DynamicTest> sameMessageAsThePythonSide() throws Exception {
        JsonNode doc = MAPPER.readTree(Files.readString(Paths.get(System.getProperty("atlasml.hookVectors",
                "../tests/vectors/hook_notifications.json"))));
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode v : doc.get("vectors")) {
            tests.add(DynamicTest.dynamicTest(v.get("description").asText(), () -> {
                HookNotifications.Plan plan = HookNotifications.plan(v.get("event"));
                assertNotNull(plan, "a terminal event that writes must be published");
                JsonNode known = v.get("known");
                HookNotifications.Known state = new HookNotifications.Known(strings(known.get("registeredInputs")),
                        strings(known.get("existingOutputs")), known.get("processExists").asBoolean());
                JsonNode request = HookNotifications.createRequest(HookNotifications.entities(plan, state),
                        v.get("user").asText());
                assertEquals(v.get("message"), request);
                String text = request.toString();
                for (String secret : List.of("s3cr3t", "hunter2")) {
                    assertFalse(text.contains(secret), "a credential reached the notification: " + text);
                }
            }));
        }
        return tests.stream();
    }

    @TestFactory
    Stream<DynamicTest> envelopeDecodesToTheRequest() throws Exception {
        JsonNode doc = MAPPER.readTree(Files.readString(Paths.get(System.getProperty("atlasml.hookVectors",
                "../tests/vectors/hook_notifications.json"))));
        JsonNode request = doc.get("vectors").get(0).get("message");
        return Stream.of(2_000, 1_000_000).map(max -> DynamicTest.dynamicTest("max length " + max, () -> {
            List<byte[]> values = HookNotifications.encode((com.fasterxml.jackson.databind.node.ObjectNode) request,
                    max, 1L, "127.0.0.1");
            for (byte[] value : values) {
                assertFalse(value.length > max, "a part is larger than Atlas's limit");
            }
            assertEquals(request, EnvelopeDecoding.decode(values));
        }));
    }
}
