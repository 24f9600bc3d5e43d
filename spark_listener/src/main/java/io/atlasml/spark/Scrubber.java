package io.atlasml.spark;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Removes credentials from everything that leaves the JVM: URIs and JDBC URLs (userinfo, user/password
 * parameters, SAS tokens, Oracle's {@code user/pass@}), free text such as error messages, and option or
 * parameter maps (keys that look like secrets are dropped). Secret values seen in Spark settings and data
 * source options are also remembered and masked wherever they appear verbatim.
 */
public final class Scrubber {
    public static final String MASK = "***";

    /** Option / setting names whose values are secrets. */
    private static final Pattern SECRET_KEY = Pattern.compile(
            "(?i)(password|passwd|pwd|secret|token|key|credential|signature|sas|auth|session)");

    /** URL parameter names whose values are credentials (JDBC ;k=v or ?k=v&k=v, SAS tokens): exact names... */
    private static final String SECRET_PARAM_EXACT =
            "user|username|uid|pwd|passwd|sig|signature|se|sp|sv|sr|ss|srt|st|spr|skoid|sktid|skt|ske|sks|skv|"
            + "sas|auth|authorization|x-amz-credential|x-amz-signature|x-amz-security-token";
    /** ...and any name containing one of these words. */
    private static final String SECRET_PARAM_WORDS =
            "password|passwd|secret|token|credential|access_?key|secret_?key|accesskey|secretkey|api_?key|apikey";

    /** A whole {@code ;name=value}, {@code ?name=value} or {@code &name=value} parameter. */
    private static final Pattern SECRET_PARAM = Pattern.compile(
            "(?i)([;?&])\\s*(?:(?:" + SECRET_PARAM_EXACT + ")|[\\w.-]*(?:" + SECRET_PARAM_WORDS + ")[\\w.-]*)"
            + "\\s*=[^;&#\\s]*");

    /** {@code scheme://userinfo@}: the userinfo goes, the scheme and host stay. */
    private static final Pattern USERINFO = Pattern.compile(
            "(?i)\\b([a-z][a-z0-9+.-]*:(?:[a-z0-9+.-]+:)*//)([^/\\s?#;]+)@");

    /** Oracle thin: {@code jdbc:oracle:thin:user/pass@host}. */
    private static final Pattern ORACLE_CREDS = Pattern.compile("(?i)(jdbc:oracle:[a-z0-9]+:)[^@/\\s]+/[^@\\s]*@");

    /** "password=...", "token: ..." etc. in free text. */
    private static final Pattern SECRET_ASSIGNMENT = Pattern.compile(
            "(?i)\\b([\\w.-]*(?:password|passwd|pwd|secret|token|credential|access[._-]?key|secret[._-]?key|"
            + "api[._-]?key)[\\w.-]*)(\\s*[=:]\\s*)(\"[^\"]*\"|'[^']*'|[^\\s,;&)}\\]]+)");

    /** Schemes whose authority legitimately has a "user" part that is not a credential (Azure containers). */
    private static final Pattern CONTAINER_SCHEMES = Pattern.compile("(?i)(wasbs?|abfss?)://");

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
    public static void rememberSecrets(java.util.Map<String, String> options) {
        if (options == null) {
            return;
        }
        for (java.util.Map.Entry<String, String> e : options.entrySet()) {
            if (e.getKey() != null && REMEMBERED_KEY.matcher(e.getKey()).find()) {
                rememberSecret(e.getValue());
            }
        }
    }

    /** A URI or JDBC URL without userinfo and credential parameters. */
    public static String scrubUri(String uri) {
        if (uri == null) {
            return null;
        }
        String s = ORACLE_CREDS.matcher(uri).replaceAll("$1@");
        s = scrubUserinfo(s);
        s = SECRET_PARAM.matcher(s).replaceAll("$1");
        // tidy the separators left behind: "?&a=1" -> "?a=1", "x?" -> "x", ";;" -> ";"
        s = s.replaceAll("([?&;])[&;]+", "$1").replaceAll("[?&;]+$", "").replaceAll("\\?;", "?");
        return maskKnown(s);
    }

    private static String scrubUserinfo(String s) {
        Matcher m = USERINFO.matcher(s);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String scheme = m.group(1);
            String userinfo = m.group(2);
            boolean container = CONTAINER_SCHEMES.matcher(scheme).lookingAt() && userinfo.indexOf(':') < 0;
            m.appendReplacement(out, Matcher.quoteReplacement(container ? m.group() : scheme));
        }
        m.appendTail(out);
        return out.toString();
    }

    /** Free text (an error message): URIs scrubbed, secret assignments and known secret values masked. */
    public static String scrubText(String text) {
        if (text == null) {
            return null;
        }
        String s = ORACLE_CREDS.matcher(text).replaceAll("$1@");
        s = scrubUserinfo(s);
        s = SECRET_PARAM.matcher(s).replaceAll("$1");
        s = SECRET_ASSIGNMENT.matcher(s).replaceAll("$1$2" + MASK);
        return maskKnown(s);
    }

    /** A value to be shipped as is (a parameter, a name): known secret values masked. */
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
