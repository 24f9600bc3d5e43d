package io.atlasml.spark;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.List;
import java.util.Locale;

/**
 * Dataset names the OpenLineage way (https://openlineage.io/docs/spec/naming), so that events from this
 * listener and from openlineage-spark land on the same Atlas entity:
 * <ul>
 *   <li>paths: namespace = scheme + authority ({@code file}, {@code s3://bucket}, {@code hdfs://nn:8020}),
 *       name = the path;</li>
 *   <li>JDBC: namespace = the JDBC URL without credentials, name = the table;</li>
 *   <li>catalog tables: namespace = the metastore ({@code hive://host:port}) or the warehouse URI,
 *       name = {@code db.table}.</li>
 * </ul>
 */
public final class DatasetNaming {
    private DatasetNaming() {
    }

    /** A path or URI (as Hadoop gives it: "file:/tmp/x", "/tmp/x", "s3a://b/k"). */
    public static DatasetRef path(String location, String format, List<DatasetRef.Field> fields) {
        String[] nn = pathNamespaceAndName(location);
        return new DatasetRef(nn[0], nn[1], uriOf(nn[0], nn[1]), format, fields, null);
    }

    /** {namespace, name} of a path. */
    static String[] pathNamespaceAndName(String location) {
        String loc = location == null ? "" : location.trim();
        URI uri;
        try {
            uri = new URI(loc.replace(" ", "%20"));
        } catch (URISyntaxException e) {
            return new String[] {"file", Scrubber.scrubUri(stripTrailingSlash(loc))};
        }
        String scheme = uri.getScheme() == null ? "file" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (scheme.equals("s3a") || scheme.equals("s3n")) {
            scheme = "s3"; // the OpenLineage naming spec names all S3 file systems s3://bucket
        }
        String path = uri.getPath() == null || uri.getPath().isEmpty() ? "/" : uri.getPath();
        path = stripTrailingSlash(path);
        if (scheme.equals("file")) {
            return new String[] {"file", path};
        }
        String authority = uri.getRawAuthority();
        String namespace = scheme + "://" + (authority == null ? "" : authority);
        return new String[] {stripTrailingSlash(Scrubber.scrubUri(namespace)), path};
    }

    /** A JDBC table: namespace = the URL without credentials, name = the table (or "query" fallback). */
    public static DatasetRef jdbc(String url, String tableOrQuery, List<DatasetRef.Field> fields) {
        String namespace = Scrubber.scrubUri(url == null ? "jdbc:unknown" : url.trim());
        String name = tableOrQuery == null || tableOrQuery.isBlank() ? "unknown" : tableOrQuery.trim();
        if (name.startsWith("(")) { // a query, e.g. "(SELECT ...) SPARK_GEN_SUBQ_0": names no table
            name = Scrubber.scrubText(name.replaceAll("\\s+", " "));
            if (name.length() > 200) {
                name = name.substring(0, 200);
            }
        } else {
            name = Scrubber.maskKnown(name);
        }
        return new DatasetRef(namespace, name, namespace, "jdbc", fields, null);
    }

    /**
     * A catalog table: namespace = metastore URI or warehouse URI (or "spark_catalog"), name = db.table,
     * with the table's location (when known) as a symlink.
     */
    public static DatasetRef table(AtlasConfig config, String catalog, String database, String table,
                                   String location, String format, List<DatasetRef.Field> fields) {
        String namespace = tableNamespace(config, catalog);
        String name = (database == null || database.isEmpty() ? "" : database + ".") + table;
        DatasetRef link = location == null || location.isEmpty() ? null : path(location, format, null);
        return new DatasetRef(namespace, name, link != null ? link.sourceUri : namespace, format, fields, link);
    }

    static String tableNamespace(AtlasConfig config, String catalog) {
        if (catalog != null && !catalog.isEmpty() && !catalog.equals("spark_catalog") && config != null) {
            String prefix = "spark.sql.catalog." + catalog + ".";
            for (String key : new String[] {"url", "uri", "warehouse"}) {
                String v = config.get(prefix + key);
                if (v != null && !v.isBlank()) {
                    return key.equals("warehouse") ? pathUri(v) : Scrubber.scrubUri(v.trim());
                }
            }
            return "spark_catalog://" + catalog;
        }
        if (config != null && config.metastoreUri != null) {
            URI u = URI.create(Scrubber.scrubUri(config.metastoreUri));
            return "hive://" + u.getHost() + (u.getPort() > 0 ? ":" + u.getPort() : "");
        }
        if (config != null && config.warehouseDir != null && !config.warehouseDir.isBlank()) {
            return pathUri(config.warehouseDir);
        }
        return "spark_catalog";
    }

    /** A warehouse location as a full URI: "file:///abs/spark-warehouse", "s3://b/wh". */
    static String pathUri(String location) {
        String[] nn = pathNamespaceAndName(location);
        return uriOf(nn[0], nn[1]);
    }

    static String uriOf(String namespace, String name) {
        if (namespace.equals("file")) {
            return "file://" + (name.startsWith("/") ? name : "/" + name);
        }
        return namespace + (name.startsWith("/") ? name : "/" + name);
    }

    private static String stripTrailingSlash(String s) {
        String out = s;
        while (out.length() > 1 && out.endsWith("/")) {
            out = out.substring(0, out.length() - 1);
        }
        return out;
    }
}
