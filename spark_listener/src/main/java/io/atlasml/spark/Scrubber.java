package io.atlasml.spark;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Credentials out of every string that leaves the JVM: dataset, job and application names, facet strings,
 * error messages, log lines. The rules are those of the plugin's {@code atlas_mlplugin/scrubbing.py}, regex
 * for regex and in the same order, because a dataset name must not depend on which side scrubbed it; the
 * shared vectors in {@code tests/vectors/scrubbing.json} hold both sides to the same outputs
 * (ScrubberVectorsTest here, tests/unit/test_scrubbing.py there).
 * <ul>
 *   <li>{@link #scrubUri}: a URI or JDBC URL without userinfo ({@code user:password@}), Oracle's
 *       {@code user/password@} and credential parameters (password=, user=, SAS and AWS signature parameters,
 *       Azure AccountKey= ...), which are removed, not masked, so the same table read with or without a
 *       password in its URL has one name;</li>
 *   <li>{@link #scrubText}: free text (an error message, a log line): URIs scrubbed as above, and
 *       {@code password=...}-style assignments, {@code Authorization: Bearer ...} headers, bare
 *       {@code user/password@host}, AWS key ids, JWTs, private keys and well-known token formats masked;</li>
 *   <li>{@link #scrubName}: a dataset, job or application name: as free text, but a password-less userinfo
 *       stays ({@code hive://db.table@cluster}) and an assignment's value ends at a "/".</li>
 * </ul>
 * On top of the shared rules, the values the listener saw under secret-looking Spark settings and data source
 * options are remembered and masked wherever they appear verbatim ({@link #maskKnown}): a password the rules
 * cannot recognise by its shape (say, a bare table name someone pasted it into) is still caught.
 *
 * <p>Porting notes (Java 17 vs Python's {@code re} with {@code ASCII}): Java's {@code \w}, {@code \d},
 * {@code \s} and {@code (?i)} are ASCII already, but its {@code \b} treats any Unicode letter as a word
 * character, so {@link #B} spells out Python's ASCII boundary; Java ends a line at CR, U+0085 and U+2028 too,
 * so every pattern uses UNIX_LINES, where {@code $} and {@code .} behave like Python's (only LF ends a line);
 * and the one Python pattern without ASCII has its Unicode {@code \s} spelled out ({@link #UNICODE_SPACE}).
 * A differential run over generated input (the vectors, mutated, plus random ASCII and non-ASCII text) is how
 * these were found; the vectors hold the cases.
 */
public final class Scrubber {
    public static final String MASK = "***";

    private static final int LINES = Pattern.UNIX_LINES;
    /** Case-insensitive, ASCII only (Java's default, as Python's IGNORECASE|ASCII). */
    private static final int NOCASE = Pattern.CASE_INSENSITIVE | LINES;
    /** Python's {@code \b} under re.ASCII. */
    private static final String B = "(?:(?<=\\w)(?!\\w)|(?<!\\w)(?=\\w))";

    // --- URIs ------------------------------------------------------------------------------------------
    /** URL parameter names whose values are credentials (JDBC ;k=v or ?k=v&k=v, SAS and AWS signatures). */
    private static final String SECRET_PARAM_EXACT =
            "user|username|uid|pwd|passwd|sig|signature|se|sp|sv|sr|ss|srt|st|spr|skoid|sktid|skt|ske|"
            + "sks|skv|sas|auth|authorization|x-amz-credential|x-amz-signature|x-amz-security-token";
    /** Any parameter or key whose name contains one of these words holds a secret. */
    private static final String SECRET_WORDS =
            "password|passwd|passphrase|pwd|secret|token|credential|access[._-]?key|secret[._-]?key|"
            + "api[._-]?key|account[._-]?key|shared[._-]?access[._-]?(?:key|signature)|private[._-]?key|"
            + "client[._-]?secret|session[._-]?key|keyfile";
    /**
     * scrubbing.py's {@code [\w.-]*(?:SECRET_WORDS)[\w.-]*}, the name part of a parameter or an assignment,
     * as an atomic group. It matches the same text: what follows it ({@code \s*[=:]}) is never in
     * {@code [\w.-]}, so it always ends where the run of name characters ends, whichever secret word it found;
     * but once it has matched it is not tried again from each earlier secret word, which made a 4 KB
     * "password.password...." take seconds (cubic backtracking).
     */
    private static final String SECRET_KEY_RUN = "(?>[\\w.-]*(?:" + SECRET_WORDS + ")[\\w.-]*+)";
    /** A whole {@code ;name=value}, {@code ?name=value} or {@code &name=value} parameter. */
    private static final Pattern SECRET_PARAM = Pattern.compile(
            "([;?&])\\s*(?:(?:" + SECRET_PARAM_EXACT + ")|" + SECRET_KEY_RUN + ")\\s*=[^;&\\s]*", NOCASE);
    /**
     * {@code scheme://userinfo@}: the userinfo goes, the scheme and host stay. (A password may hold "#" or
     * "@", which a careless URL leaves unencoded: up to the last "@" of the authority.) The scheme's parts are possessive and bounded, as in
     * scrubbing.py: "//" can only follow the last ":", a scheme has a few short parts, a longer run is matched
     * from a later boundary, and so "a:a:a:..." costs linear time (unbounded, Java recursed once per
     * repetition and a 16 KB "a:a:a:..." overflowed the stack; Python took seconds).
     */
    private static final Pattern USERINFO = Pattern.compile(
            B + "([a-z][a-z0-9+.-]{0,63}+:(?:[a-z0-9+.-]{1,63}+:){0,7}+//)([^/\\s?#;@:]*(?::[^/\\s?;]*)?)@", NOCASE);
    /** Oracle thin: {@code jdbc:oracle:thin:user/pass@host}. */
    private static final Pattern ORACLE_CREDS = Pattern.compile(
            "((?:jdbc:)?oracle:[a-z0-9]+:)[^@/\\s]+/[^@\\s]*@", NOCASE);
    /**
     * Python's {@code \s} without re.ASCII (the one pattern there compiled without it): every character
     * {@code str.isspace()} calls a space, which is neither Java's {@code \s} nor its Unicode White_Space.
     */
    private static final String UNICODE_SPACE =
            "[\\t\\n\\x0B\\f\\r\\x1C-\\x1F \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]";
    /** A "?" left without parameters: "x?" before the end, a space, a quote, a bracket or a fragment. */
    private static final Pattern EMPTY_QUERY = Pattern.compile(
            "\\?&*(?=" + UNICODE_SPACE + "|[#\"'()\\[\\]{}<>,]|$)", LINES);
    /** Schemes whose authority legitimately has a "user" part that is not a credential (Azure containers). */
    private static final Pattern CONTAINER_SCHEMES = Pattern.compile("(wasbs?|abfss?)://", NOCASE);
    private static final Pattern REPEATED_SEPARATORS = Pattern.compile("([?&;])[&;]+", LINES);
    private static final Pattern TRAILING_SEPARATORS = Pattern.compile("[?&;]+$", LINES);

    // --- free text -------------------------------------------------------------------------------------
    /**
     * Where scrubbing.py's {@code \b([\w.-]*(?:SECRET_WORDS)[\w.-]*)(\s*[=:]\s*)} can match: at the first
     * word character of a run of {@code [\w.-]} characters (an earlier boundary of the run matches whenever a
     * later one does, so the scan never gets further into a run), and only when the run is followed by "=" or
     * ":". Starting there (the run's leading "." and "-" kept in {@code lead}) gives the same matches in linear
     * time, where trying every boundary of a long dotted name ("a.a.a....") took seconds.
     */
    private static final String ASSIGNMENT_START = "(?<![\\w.-])(?<lead>[.-]*+)(?=[\\w.-]*+\\s*[=:])" + B;
    /** "password=...", "token: ...", "AccountKey=..." in free text. */
    static final Pattern SECRET_ASSIGNMENT = Pattern.compile(ASSIGNMENT_START
            + "(?<key>" + SECRET_KEY_RUN + ")(?<sep>\\s*[=:]\\s*)(?<value>\"[^\"]*\"|'[^']*'|[^\\s,;&)}\\]]+)",
            NOCASE);
    /** The same in a name, where a value ends at a path separator ("/data/token=abc/part-0"). */
    static final Pattern SECRET_ASSIGNMENT_IN_NAME = Pattern.compile(ASSIGNMENT_START
            + "(?<key>" + SECRET_KEY_RUN + ")(?<sep>\\s*[=:]\\s*)(?<value>\"[^\"]*\"|'[^']*'|[^\\s,;&)}\\]/]+)",
            NOCASE);
    /** "Authorization: Bearer abc", "X-Api-Key: abc" (the scheme stays, the credential goes). */
    private static final Pattern AUTH_HEADER = Pattern.compile(
            B + "((?:proxy-)?authorization|x-api-key|api-key|x-auth-token)(\\s*[:=]\\s*)"
            + "(?:(bearer|basic|digest|negotiate|token)\\s+)?(\"[^\"]*\"|'[^']*'|[^\\s,;\"']+)", NOCASE);
    /** "Bearer abc..." without a header name. */
    private static final Pattern BEARER = Pattern.compile(
            B + "(bearer|basic|negotiate)\\s+[A-Za-z0-9._~+/-]{12,}=*", NOCASE);
    /**
     * Oracle's user/password@host without the JDBC prefix (sqlplus, connect strings). (Not before a digest:
     * "repo/image@sha256:..." names an image, not a login.)
     */
    private static final Pattern ORACLE_BARE = Pattern.compile(
            "(?<![\\w/:.@-])([A-Za-z][\\w$#]{0,29})/([^\\s/@'\"]{1,128})@"
            + "(?!(?:sha\\d*|md5):)(?=[A-Za-z0-9][\\w.-]*(?::\\d+)?(?:[/:;,)\"'\\s]|$))", LINES);
    private static final Pattern TOKEN_SHAPES = Pattern.compile(
            B + "(?:AKIA|ASIA)[0-9A-Z]{16}" + B // AWS access key ids
            + "|" + B + "eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{5,}" // JWTs
            + "|" + B + "gh[pousr]_[A-Za-z0-9]{20,}|" + B + "github_pat_[A-Za-z0-9_]{20,}" // GitHub tokens
            + "|" + B + "glpat-[A-Za-z0-9_-]{20,}|" + B + "xox[abprs]-[A-Za-z0-9-]{10,}" // GitLab, Slack tokens
            + "|-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", // private keys
            LINES | Pattern.DOTALL);

    // --- remembered secrets ----------------------------------------------------------------------------
    /** Option / setting names whose values are secrets (such options are never shipped). */
    private static final Pattern SECRET_KEY = Pattern.compile(
            "(?i)(password|passwd|pwd|secret|token|key|credential|signature|sas|auth|session)");
    /** Keys whose values are remembered and masked anywhere: narrower than SECRET_KEY, which only drops keys. */
    private static final Pattern REMEMBERED_KEY = Pattern.compile(
            "(?i)(password|passwd|pwd|secret|token|credential|access[._-]?key|account[._-]?key|api[._-]?key|"
            + "sas|signature)");
    /** Values that are settings, not secrets, whatever their key says. */
    private static final Pattern NOT_A_SECRET = Pattern.compile(
            "(?i)true|false|none|null|\\d+|[a-z_$][\\w$]*(\\.[a-z_$][\\w$]*)+"); // ... or a class name

    private static final Set<String> KNOWN_SECRETS = ConcurrentHashMap.newKeySet();
    private static final int MIN_SECRET_LENGTH = 5;

    private Scrubber() {
    }

    /** True when a setting or option with this name holds a secret. */
    public static boolean isSecretKey(String key) {
        return key != null && SECRET_KEY.matcher(key).find();
    }

    /**
     * Remembers a secret value so that it is masked wherever it later appears verbatim (error messages,
     * names). Values shorter than 5 characters, booleans, numbers and class names are not remembered: masking
     * them would mangle ordinary text (they are still never shipped under their key).
     */
    public static void rememberSecret(String value) {
        if (value != null && value.length() >= MIN_SECRET_LENGTH && !NOT_A_SECRET.matcher(value).matches()
                && KNOWN_SECRETS.size() < 10_000) {
            KNOWN_SECRETS.add(value);
        }
    }

    /** Remembers the values of all secret-looking keys of a map of options or settings. */
    public static void rememberSecrets(Map<String, String> options) {
        if (options == null) {
            return;
        }
        for (Map.Entry<String, String> e : options.entrySet()) {
            if (e.getKey() != null && REMEMBERED_KEY.matcher(e.getKey()).find()) {
                rememberSecret(e.getValue());
            }
        }
    }

    // --- the shared rules ------------------------------------------------------------------------------

    /** A URI or JDBC URL without userinfo and credential parameters (Python's {@code scrub_uri}). */
    public static String scrubUri(String uri) {
        return scrubUri(uri, false);
    }

    /**
     * A URI or JDBC URL without userinfo and credential parameters. With {@code keepUser}, a userinfo without a
     * password stays (for names such as Atlas's {@code hive://db.table@cluster}, where it is part of the name).
     */
    public static String scrubUri(String uri, boolean keepUser) {
        if (uri == null) {
            return null;
        }
        String s = stripCredentials(maskKnown(uri), keepUser);
        // tidy the separators left behind: "?&a=1" -> "?a=1", "x?" -> "x", ";;" -> ";"
        s = REPEATED_SEPARATORS.matcher(s).replaceAll("$1");
        s = TRAILING_SEPARATORS.matcher(s).replaceAll("");
        return s.replace("?;", "?");
    }

    /** Free text (an error message, a description, a log line): URIs scrubbed, secrets masked. */
    public static String scrubText(String text) {
        return text == null ? null : scrub(maskKnown(text), false, SECRET_ASSIGNMENT);
    }

    /**
     * A dataset, job or application name: as free text, except that a userinfo without a password stays (it
     * is part of names such as {@code hive://db.table@cluster}) and a secret assignment's value ends at a "/".
     */
    public static String scrubName(String name) {
        return name == null ? null : scrub(maskKnown(name), true, SECRET_ASSIGNMENT_IN_NAME);
    }

    private static String scrub(String text, boolean keepUser, Pattern assignment) {
        String s = stripCredentials(text, keepUser);
        s = replace(AUTH_HEADER, s, m -> m.group(1) + m.group(2) + (m.group(3) != null ? m.group(3) + " " : "")
                + MASK);
        s = replace(BEARER, s, m -> m.group(1) + " " + MASK);
        s = maskAssignments(s, assignment);
        s = ORACLE_BARE.matcher(s).replaceAll("$1/" + Matcher.quoteReplacement(MASK) + "@");
        return TOKEN_SHAPES.matcher(s).replaceAll(Matcher.quoteReplacement(MASK));
    }

    /** Secret assignments' values masked (one already masked is left as it is). */
    static String maskAssignments(String text, Pattern assignment) {
        return replace(assignment, text, m -> MASK.equals(m.group("value")) ? m.group()
                : m.group("lead") + m.group("key") + m.group("sep") + MASK);
    }

    private static String stripCredentials(String text, boolean keepUser) {
        String s = ORACLE_CREDS.matcher(text).replaceAll("$1@");
        return dropSecretParams(scrubUserinfo(s, keepUser));
    }

    private static String scrubUserinfo(String text, boolean keepUser) {
        return replace(USERINFO, text, m -> {
            boolean plainUser = m.group(2).indexOf(':') < 0;
            boolean container = CONTAINER_SCHEMES.matcher(m.group(1)).lookingAt() && plainUser;
            return container || (keepUser && plainUser) ? m.group() : m.group(1);
        });
    }

    /**
     * Credential parameters removed with their separator ("?" stays for the parameters after it), and a "?"
     * left with nothing after it removed too: "app?user=a&password=b x" -> "app x".
     */
    static String dropSecretParams(String text) {
        String dropped = replace(SECRET_PARAM, text, m -> "?".equals(m.group(1)) ? "?" : "");
        if (dropped.equals(text)) {
            return text; // nothing removed: a "?" of the text's own ("why??") is not ours to tidy
        }
        return EMPTY_QUERY.matcher(dropped.replace("?&", "?").replace("?;", "?")).replaceAll("");
    }

    /** Python's {@code pattern.sub(function, text)}: the function's result is literal text, not a template. */
    private static String replace(Pattern pattern, String text, Function<Matcher, String> replacement) {
        Matcher m = pattern.matcher(text);
        if (!m.find()) {
            return text;
        }
        StringBuilder out = new StringBuilder(text.length());
        do {
            m.appendReplacement(out, Matcher.quoteReplacement(replacement.apply(m)));
        } while (m.find());
        m.appendTail(out);
        return out.toString();
    }

    /** Known secret values masked (on top of the shared rules, which already apply it). */
    public static String maskKnown(String s) {
        if (s == null || KNOWN_SECRETS.isEmpty()) {
            return s;
        }
        String out = s;
        for (String secret : KNOWN_SECRETS) {
            if (out.contains(secret)) {
                out = out.replace(secret, MASK);
            }
        }
        return out;
    }

    /** For tests. */
    static void forgetSecrets() {
        KNOWN_SECRETS.clear();
    }
}
