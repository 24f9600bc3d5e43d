package io.atlasml.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.util.Base64;
import java.util.List;
import java.util.zip.GZIPInputStream;

/** Atlas's AtlasNotificationMessageDeserializer, for tests: the parts of one message -> its hook request. */
final class EnvelopeDecoding {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private EnvelopeDecoding() {
    }

    static JsonNode decode(List<byte[]> values) throws Exception {
        JsonNode first = MAPPER.readTree(values.get(0));
        if (first.path("msgCompressionKind").asText().equals("GZIP")) {
            StringBuilder text = new StringBuilder();
            int index = 0;
            for (byte[] value : values) {
                JsonNode part = MAPPER.readTree(value);
                if (values.size() > 1 && part.get("msgSplitIdx").asInt() != index++) {
                    throw new IllegalStateException("parts out of order");
                }
                text.append(part.get("message").asText());
            }
            byte[] raw = new GZIPInputStream(new ByteArrayInputStream(Base64.getDecoder().decode(text.toString())))
                    .readAllBytes();
            first = MAPPER.readTree(raw);
        }
        return first.get("message");
    }
}
