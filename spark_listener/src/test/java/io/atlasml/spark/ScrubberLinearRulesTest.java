package io.atlasml.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The rules Scrubber writes differently from scrubbing.py, so that a long name cannot stall or crash the
 * listener: the secret assignment ("password=...") and the secret URL parameter, held here to scrubbing.py's
 * literal regexes on generated input and timed on the inputs that made the literal ones take seconds; and
 * the URI scheme, which must not overflow the stack.
 */
class ScrubberLinearRulesTest {
    private static final String B = "(?:(?<=\\w)(?!\\w)|(?<!\\w)(?=\\w))";
    private static final String WORDS = "password|passwd|passphrase|pwd|secret|token|credential|access[._-]?key|"
            + "secret[._-]?key|api[._-]?key|account[._-]?key|shared[._-]?access[._-]?(?:key|signature)|"
            + "private[._-]?key|client[._-]?secret|session[._-]?key|keyfile";
    private static final String EXACT = "user|username|uid|pwd|passwd|sig|signature|se|sp|sv|sr|ss|srt|st|spr|"
            + "skoid|sktid|skt|ske|sks|skv|sas|auth|authorization|x-amz-credential|x-amz-signature|"
            + "x-amz-security-token";
    private static final int FLAGS = Pattern.CASE_INSENSITIVE | Pattern.UNIX_LINES;
    /** scrubbing.py's _SECRET_ASSIGNMENT, _SECRET_ASSIGNMENT_IN_NAME and _SECRET_PARAM, as written there. */
    private static final Pattern LITERAL_ASSIGNMENT = Pattern.compile(B + "([\\w.-]*(?:" + WORDS + ")[\\w.-]*)"
            + "(\\s*[=:]\\s*)(\"[^\"]*\"|'[^']*'|[^\\s,;&)}\\]]+)", FLAGS);
    private static final Pattern LITERAL_ASSIGNMENT_IN_NAME = Pattern.compile(B + "([\\w.-]*(?:" + WORDS
            + ")[\\w.-]*)(\\s*[=:]\\s*)(\"[^\"]*\"|'[^']*'|[^\\s,;&)}\\]/]+)", FLAGS);
    private static final Pattern LITERAL_PARAM = Pattern.compile("([;?&])\\s*(?:(?:" + EXACT + ")|[\\w.-]*(?:"
            + WORDS + ")[\\w.-]*)\\s*=[^;&\\s]*", FLAGS);
    private static final String[] PIECES = {"password", "PassWord", "token", "api-key", "api_key", "secret",
        "AccountKey", "user", "sig", "se", ".", "-", "..", "_", "=", ":", " ", "  ", "\t", "\n", "\"", "'", "/",
        ";", "?", "&", ",", ")", "]", "}", "a", "b7", "xyz", "\u00e9", "***", "hunter2", "=***", "key", "pass"};

    private static String literalMask(Pattern p, String s) {
        Matcher m = p.matcher(s);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String r = "***".equals(m.group(3)) ? m.group() : m.group(1) + m.group(2) + "***";
            m.appendReplacement(out, Matcher.quoteReplacement(r));
        }
        return m.appendTail(out).toString();
    }

    private static String literalParams(String s) {
        Matcher m = LITERAL_PARAM.matcher(s);
        StringBuilder out = new StringBuilder();
        boolean found = false;
        while (m.find()) {
            found = true;
            m.appendReplacement(out, "?".equals(m.group(1)) ? "?" : "");
        }
        if (!found) {
            return s; // nothing removed: the text's own "?" stays
        }
        String dropped = m.appendTail(out).toString().replace("?&", "?").replace("?;", "?");
        return Pattern.compile("\\?&*(?=[\\t\\n\\x0B\\f\\r\\x1C-\\x1F \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029"
                + "\\u202F\\u205F\\u3000]|[#\"'()\\[\\]{}<>,]|$)", Pattern.UNIX_LINES).matcher(dropped).replaceAll("");
    }

    @Test
    void sameOutputsAsTheLiteralRules() {
        Random random = new Random(20261130);
        for (int i = 0; i < 30_000; i++) {
            StringBuilder b = new StringBuilder();
            for (int n = random.nextInt(16); n >= 0; n--) {
                b.append(PIECES[random.nextInt(PIECES.length)]);
            }
            String s = b.toString();
            assertEquals(literalMask(LITERAL_ASSIGNMENT, s), Scrubber.maskAssignments(s, Scrubber.SECRET_ASSIGNMENT),
                    s);
            assertEquals(literalMask(LITERAL_ASSIGNMENT_IN_NAME, s),
                    Scrubber.maskAssignments(s, Scrubber.SECRET_ASSIGNMENT_IN_NAME), s);
            assertEquals(literalParams(s), Scrubber.dropSecretParams(s), s);
        }
    }

    @Test
    void longDottedNamesAreScrubbedInLinearTime() {
        // The literal rules take about 7 s (password.) and 0.9 s (a.) on each of these 4096-character names,
        // the longest name the plugin accepts (limits.py's MAX_NAME_LENGTH).
        for (String unit : new String[] {"password.", "a.", "aaaa-", "?password.", "password.password= "}) {
            String s = unit.repeat(4096 / unit.length() + 1).substring(0, 4096);
            Scrubber.scrubText(s); // warm up
            long t0 = System.nanoTime();
            Scrubber.scrubText(s);
            Scrubber.scrubName(s);
            Scrubber.scrubUri(s);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms < 300, "'" + unit + "' x 4096 chars took " + ms + " ms");
        }
    }

    @Test
    void aLongSchemeLikeTextDoesNotOverflowTheStack() {
        String s = "a:".repeat(8000); // the literal scheme pattern recursed once per "a:" in Java
        assertEquals(s, Scrubber.scrubUri(s));
        assertEquals(s, Scrubber.scrubText(s));
    }
}
