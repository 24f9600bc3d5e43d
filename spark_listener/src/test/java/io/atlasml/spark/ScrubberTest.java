package io.atlasml.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ScrubberTest {
    @AfterEach
    void forget() {
        Scrubber.forgetSecrets();
    }

    @Test
    void jdbcQueryParameters() {
        assertEquals("jdbc:postgresql://db:5432/app?ssl=true",
                Scrubber.scrubUri("jdbc:postgresql://db:5432/app?user=bob&password=s3cr3t&ssl=true"));
        assertEquals("jdbc:postgresql://db:5432/app",
                Scrubber.scrubUri("jdbc:postgresql://db:5432/app?password=s3cr3t"));
        assertEquals("jdbc:mysql://db/app?useSSL=false",
                Scrubber.scrubUri("jdbc:mysql://db/app?useSSL=false&PASSWORD=x%40y"));
    }

    @Test
    void jdbcSemicolonParameters() {
        assertEquals("jdbc:sqlserver://db:1433;databaseName=sales",
                Scrubber.scrubUri("jdbc:sqlserver://db:1433;databaseName=sales;user=sa;password=Pa55;"));
        assertEquals("jdbc:sqlite:/tmp/x.db", Scrubber.scrubUri("jdbc:sqlite:/tmp/x.db;password=hunter22"));
    }

    @Test
    void userinfoInAnyUri() {
        assertEquals("jdbc:mysql://db:3306/app", Scrubber.scrubUri("jdbc:mysql://bob:s3cr3t@db:3306/app"));
        assertEquals("s3://bucket/key", Scrubber.scrubUri("s3://AKIAXXX:secretKey@bucket/key"));
        assertEquals("jdbc:oracle:thin:@db:1521/orcl", Scrubber.scrubUri("jdbc:oracle:thin:scott/tiger@db:1521/orcl"));
    }

    /** A password with an unencoded "@" goes whole: the userinfo runs to the last "@" of the authority. */
    @Test
    void unencodedAtInAPassword() {
        assertEquals("https://host/path", Scrubber.scrubUri("https://user:pa@ss@host/path"));
    }

    @Test
    void azureContainersAreNotCredentials() {
        assertEquals("abfss://data@acct.dfs.core.windows.net/x",
                Scrubber.scrubUri("abfss://data@acct.dfs.core.windows.net/x"));
        assertEquals("wasbs://acct.blob.core.windows.net/x",
                Scrubber.scrubUri("wasbs://data:KEY@acct.blob.core.windows.net/x"));
    }

    @Test
    void sasTokens() {
        String sas = "https://acct.blob.core.windows.net/c/f.csv?sv=2022-11-02&ss=b&srt=o&sp=r"
                + "&se=2030-01-01T00:00:00Z&st=2024-01-01&spr=https&sig=abcDEF%2Bxyz%3D";
        assertEquals("https://acct.blob.core.windows.net/c/f.csv", Scrubber.scrubUri(sas));
    }

    @Test
    void secretKeys() {
        for (String k : new String[] {"password", "fs.s3a.secret.key", "fs.s3a.access.key", "spark.atlas.http.token",
            "fs.azure.account.key.acct.blob.core.windows.net", "aws_credentials", "Secret"}) {
            assertTrue(Scrubber.isSecretKey(k), k);
        }
        for (String k : new String[] {"url", "dbtable", "header", "inferSchema", "maxIter"}) {
            assertFalse(Scrubber.isSecretKey(k), k);
        }
    }

    @Test
    void freeText() {
        String msg = "Connection to jdbc:postgresql://bob:pw1@db/app?password=pw2 failed; password=pw3, "
                + "fs.s3a.secret.key: pw4 token=\"pw 5\"";
        String out = Scrubber.scrubText(msg);
        for (String secret : new String[] {"pw1", "pw2", "pw3", "pw4", "pw 5"}) {
            assertFalse(out.contains(secret), out);
        }
        assertTrue(out.contains("jdbc:postgresql://db/app"), out);
    }

    /**
     * Where Java's regexes differ from Python's (outputs taken from scrubbing.py): a non-ASCII letter is not a
     * word character (Java 17's \\b says it is), CR, U+0085 and U+2028 do not end a line (Java's $ and . say
     * they do), and the "?" tidy-up sees Python's Unicode spaces.
     */
    @Test
    void edgesWhereJavaRegexesDifferFromPython() {
        assertEquals("\u00e9password=***", Scrubber.scrubText("\u00e9password=hunter2"));
        assertEquals("\u03a9token: *** / \u03a9***",
                Scrubber.scrubText("\u03a9token: abc123 / \u03a9AKIAIOSFODNN7EXAMPLE"));
        assertEquals("***\n", Scrubber.scrubText("-----BEGIN RSA PRIVATE KEY-----\r\nMIIabc\u2028def\n"));
        assertEquals("https://h/p\u2028next", Scrubber.scrubUri("https://h/p?password=x&\u2028next"));
        assertEquals("https://h/p\u001cnext", Scrubber.scrubUri("https://h/p?password=x&\u001cnext"));
        assertEquals("jdbc:x://h/db\n", Scrubber.scrubUri("jdbc:x://h/db;password=x;\n"));
        assertEquals("jdbc:x://h/db;\r", Scrubber.scrubUri("jdbc:x://h/db;\r"));
        assertEquals("jdbc:x://h/db;a=1&\u2028", Scrubber.scrubUri("jdbc:x://h/db;a=1&\u2028"));
    }

    @Test
    void knownSecretsAreMaskedAnywhere() {
        Scrubber.rememberSecrets(java.util.Map.of("password", "Tr0ub4dor&3", "user", "bob", "url", "jdbc:x"));
        assertEquals("failed for *** at x", Scrubber.scrubText("failed for Tr0ub4dor&3 at x"));
        Scrubber.rememberSecret("abc"); // too short to mask safely
        assertEquals("abc", Scrubber.maskKnown("abc"));
    }

    @Test
    void ordinarySettingValuesAreNeverMasked() {
        Scrubber.rememberSecrets(java.util.Map.of("spark.authenticate", "false",
                "spark.sql.session.timeZone", "America/New_York", "spark.ssl.keyStoreType", "JKS",
                "spark.hadoop.fs.s3a.aws.credentials.provider", "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
                "spark.network.crypto.keyLength", "12800", "fs.s3a.secret.key", "wJalrXUtnFEMI/K7MDENG"));
        String text = "false America/New_York JKS 12800 org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider";
        assertEquals(text, Scrubber.maskKnown(text));
        assertEquals("key=*** ok", Scrubber.maskKnown("key=wJalrXUtnFEMI/K7MDENG ok"));
    }
}
