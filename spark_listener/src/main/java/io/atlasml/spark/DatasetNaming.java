package io.atlasml.spark;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Paths;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Function;
import org.apache.spark.sql.catalyst.TableIdentifier;
import org.apache.spark.sql.catalyst.catalog.CatalogTable;

/**
 * Dataset names: the one place in the listener that decides what a dataset is called. The Python side has
 * one too ({@code atlas_mlplugin/naming.py}); both follow the OpenLineage naming conventions and agree by
 * the shared vectors in {@code tests/vectors/dataset_naming.json}, which DatasetNamingVectorsTest reads.
 * <ul>
 *   <li>paths: namespace = scheme + authority ({@code file}, {@code s3://bucket} for s3/s3a/s3n,
 *       {@code hdfs://nn:8020}), name = the path; local paths absolute and normalised;</li>
 *   <li>JDBC: namespace = the JDBC URL without credentials, name = the table;</li>
 *   <li>catalog tables: namespace = the catalog's url/uri/warehouse, else the Hive metastore
 *       ({@code hive://host:port}), else the warehouse URI ({@code file:///abs/spark-warehouse}),
 *       name = {@code db.table}; a table is named by its catalog, not by its files.</li>
 * </ul>
 * The Atlas qualifiedName of a (namespace, name) is {@link #qualifiedName}.
 */
public final class DatasetNaming {
    /** Schemes whose names are paths in a file system or object store. */
    static final Set<String> FILESYSTEM_SCHEMES = Set.of("file", "s3", "s3a", "s3n", "gs", "gcs", "hdfs", "viewfs",
            "abfs", "abfss", "wasb", "wasbs", "adl", "dbfs", "oss", "cos", "cosn", "obs", "r2");
    static final String SPARK_CATALOG = "spark_catalog";
    /** Spark's default spark.sql.warehouse.dir, relative to the working directory. */
    static final String DEFAULT_WAREHOUSE = "spark-warehouse";
    private static final int MAX_QUERY_NAME = 200;

    private DatasetNaming() {
    }

    private static String workingDir() {
        return System.getProperty("user.dir");
    }

    // --- paths ---------------------------------------------------------------------------------------

    /** A path or URI (as Hadoop gives it: "file:/tmp/x", "/tmp/x", "s3a://b/k"). */
    public static DatasetRef path(String location, String format, List<DatasetRef.Field> fields) {
        String[] nn = pathNamespaceAndName(location, workingDir());
        return new DatasetRef(nn[0], nn[1], join(nn[0], nn[1]), format, fields, null);
    }

    /** {namespace, name} of a path; a relative path is taken relative to baseDir. */
    static String[] pathNamespaceAndName(String location, String baseDir) {
        String loc = location == null ? "" : location.trim();
        URI uri;
        try {
            uri = new URI(loc.replace(" ", "%20"));
        } catch (URISyntaxException e) { // not a URI: a plain local path, or something to show as it is
            boolean hasScheme = loc.matches("^[A-Za-z][A-Za-z0-9+.-]+:.*");
            return new String[] {"file", hasScheme ? Scrubber.scrubUri(stripTrailingSlash(loc)) : absolute(loc, baseDir)};
        }
        String scheme = uri.getScheme() == null || uri.getScheme().length() < 2 ? "file"
                : uri.getScheme().toLowerCase(Locale.ROOT);
        if (scheme.equals("file")) {
            String path = uri.getScheme() == null ? loc
                    : uri.isOpaque() ? uri.getSchemeSpecificPart() : uri.getPath();
            return new String[] {"file", absolute(path == null || path.isEmpty() ? "/" : path, baseDir)};
        }
        if (scheme.equals("s3a") || scheme.equals("s3n")) {
            scheme = "s3"; // the OpenLineage naming spec names all S3 file systems s3://bucket
        }
        String path = uri.getPath() == null || uri.getPath().isEmpty() ? "/" : uri.getPath();
        String authority = uri.getRawAuthority();
        String namespace = stripTrailingSlash(Scrubber.scrubUri(scheme + "://" + (authority == null ? "" : authority)));
        return new String[] {namespace, stripTrailingSlash(path)};
    }

    /** An absolute, normalised local path ("a/../b" relative to baseDir -> "/base/b"; "//x" -> "/x"). */
    private static String absolute(String path, String baseDir) {
        java.nio.file.Path p = Paths.get(path);
        if (!path.startsWith("/")) {
            p = Paths.get(baseDir == null ? workingDir() : baseDir).resolve(path);
        }
        String normalized = p.normalize().toString();
        return normalized.startsWith("/") ? normalized : "/" + normalized;
    }

    /** A location as one full URI: "file:/wh" -> "file:///wh", "s3a://b/wh/" -> "s3://b/wh". */
    static String pathUri(String location, String baseDir) {
        String[] nn = pathNamespaceAndName(location, baseDir);
        return join(nn[0], nn[1]);
    }

    // --- JDBC ----------------------------------------------------------------------------------------

    /** A JDBC table: namespace = the URL without credentials, name = the table (a query's scrubbed text). */
    public static DatasetRef jdbc(String url, String tableOrQuery, List<DatasetRef.Field> fields) {
        String namespace = Scrubber.scrubUri(url == null ? "jdbc:unknown" : url.trim());
        String name = tableOrQuery == null || tableOrQuery.isBlank() ? "unknown" : tableOrQuery.trim();
        if (name.startsWith("(")) { // a query, e.g. "(SELECT ...) SPARK_GEN_SUBQ_0": names no table
            name = Scrubber.scrubText(name.replaceAll("\\s+", " "));
            if (name.length() > MAX_QUERY_NAME) {
                name = name.substring(0, MAX_QUERY_NAME);
            }
        } else {
            name = Scrubber.maskKnown(name);
        }
        return new DatasetRef(namespace, name, namespace, "jdbc", fields, null);
    }

    // --- catalog tables ------------------------------------------------------------------------------

    /** A table of a Spark catalog, with the table's location (when known) as a symlink. */
    public static DatasetRef table(AtlasConfig config, String catalog, String database, String table,
                                   String location, String format, List<DatasetRef.Field> fields) {
        Function<String, String> conf = config == null ? key -> null : config::get;
        String namespace = tableNamespace(conf, catalog, workingDir());
        String name = (database == null || database.isEmpty() ? "" : database + ".") + table;
        DatasetRef link = location == null || location.isEmpty() ? null : path(location, format, null);
        return new DatasetRef(namespace, name, link != null ? link.sourceUri : namespace, format, fields, link);
    }

    /** A V1 catalog table (CatalogTable) as a dataset. */
    static DatasetRef catalogTable(CatalogTable table, AtlasConfig config, List<DatasetRef.Field> fields) {
        TableIdentifier id = table.identifier();
        URI location = ScalaInterop.option(table.storage().locationUri());
        String provider = ScalaInterop.option(table.provider());
        String database = ScalaInterop.option(id.database());
        String where = location == null
                ? managedLocation(config, "MANAGED".equals(table.tableType().name()), database, id.table())
                : location.toString();
        return table(config, ScalaInterop.option(id.catalog()), database, id.table(), where,
                provider == null ? null : provider.toLowerCase(Locale.ROOT),
                fields != null ? fields : Names.fields(table.schema()));
    }

    /** The namespace of a catalog's tables (see the class comment for the order of precedence). */
    static String tableNamespace(Function<String, String> conf, String catalog, String baseDir) {
        if (catalog != null && !catalog.isEmpty() && !catalog.equals(SPARK_CATALOG)) {
            String prefix = "spark.sql.catalog." + catalog + ".";
            for (String key : new String[] {"url", "uri", "warehouse"}) {
                String v = conf.apply(prefix + key);
                if (v != null && !v.isBlank()) {
                    return key.equals("warehouse") ? pathUri(v.trim(), baseDir) : catalogUri(v);
                }
            }
            return SPARK_CATALOG + "://" + catalog;
        }
        String metastore = metastoreUri(conf);
        if (metastore != null) {
            return catalogUri(metastore);
        }
        return pathUri(warehouseDir(conf), baseDir);
    }

    /** The first Hive metastore URI of the configuration, or null. */
    static String metastoreUri(Function<String, String> conf) {
        String uris = conf.apply("spark.hadoop.hive.metastore.uris");
        if (uris == null || uris.isBlank()) {
            uris = conf.apply("hive.metastore.uris");
        }
        String first = uris == null ? "" : uris.split(",")[0].trim();
        return first.isEmpty() ? null : first;
    }

    static String warehouseDir(Function<String, String> conf) {
        String wh = conf.apply("spark.sql.warehouse.dir");
        return wh == null || wh.isBlank() ? DEFAULT_WAREHOUSE : wh.trim();
    }

    /** A catalog service URI without credentials; thrift://host:port (a Hive metastore) is hive://host:port. */
    static String catalogUri(String uri) {
        String clean = stripTrailingSlash(Scrubber.scrubUri(uri.trim()));
        if (clean.toLowerCase(Locale.ROOT).startsWith("thrift://")) {
            try {
                return "hive://" + new URI(clean).getRawAuthority();
            } catch (URISyntaxException e) {
                return "hive://" + clean.substring("thrift://".length());
            }
        }
        return clean;
    }

    /**
     * A managed table being created has no location yet (CTAS, saveAsTable): Spark's session catalog puts it
     * at WAREHOUSE/TABLE (default database) or WAREHOUSE/DB.db/TABLE, lower-cased. Only a symlink: the
     * table's name does not depend on it.
     */
    static String managedLocation(AtlasConfig config, boolean managed, String database, String name) {
        if (config == null || config.warehouseDir == null || config.metastoreUri != null || !managed) {
            return null;
        }
        String wh = config.warehouseDir.replaceAll("/+$", "");
        String db = database == null ? "default" : database.toLowerCase(Locale.ROOT);
        String t = name.toLowerCase(Locale.ROOT);
        return db.equals("default") ? wh + "/" + t : wh + "/" + db + ".db/" + t;
    }

    // --- qualifiedName ---------------------------------------------------------------------------------

    /** The Atlas qualifiedName of an OpenLineage (namespace, name), as the plugin's ingest forms it. */
    public static String qualifiedName(String namespace, String name) {
        return join(normalizeNamespace(namespace), name);
    }

    /** Credentials out, trailing slashes off, a path-like namespace in one URI form (file:/wh = file:///wh). */
    static String normalizeNamespace(String namespace) {
        String ns = stripTrailingSlash(Scrubber.scrubUri(namespace.trim()));
        if (ns.startsWith("/")) {
            return pathUri(ns, workingDir());
        }
        int colon = ns.indexOf(':');
        String scheme = colon >= 2 ? ns.substring(0, colon).toLowerCase(Locale.ROOT) : null;
        if (scheme != null && scheme.matches("[a-z][a-z0-9+.-]*") && FILESYSTEM_SCHEMES.contains(scheme)
                && !ns.equalsIgnoreCase("file")) {
            String[] nn = pathNamespaceAndName(ns, workingDir());
            return nn[1].equals("/") && !nn[0].equals("file") ? nn[0] : join(nn[0], nn[1]);
        }
        return ns;
    }

    static String join(String namespace, String name) {
        String n = stripTrailingSlash(name);
        if (namespace.equals("file")) {
            return "file://" + (n.startsWith("/") ? n : "/" + n);
        }
        if (namespace.contains("://") || namespace.startsWith("jdbc:")) {
            return namespace + (n.startsWith("/") ? n : "/" + n);
        }
        return namespace + ":" + n;
    }

    private static String stripTrailingSlash(String s) {
        String out = s;
        while (out.length() > 1 && out.endsWith("/") && !out.endsWith("://")) {
            out = out.substring(0, out.length() - 1);
        }
        return out;
    }
}
