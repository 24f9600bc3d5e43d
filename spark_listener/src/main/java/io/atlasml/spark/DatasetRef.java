package io.atlasml.spark;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * A dataset named the OpenLineage way (namespace + name), with the few facts an event carries about it.
 * Built on Spark's listener thread from plan nodes. Scrubbed here, whoever builds it: the namespace and the
 * data source URI as URIs, the name and format as names (a table named {@code orders;password=x}, a path
 * {@code /data/token=abc/part-0}); job names are made from these names, so they must be clean before that.
 */
public final class DatasetRef {
    /** A field of the dataset's schema. */
    public static final class Field {
        public final String name;
        public final String type;

        public Field(String name, String type) {
            this.name = name;
            this.type = type;
        }
    }

    public final String namespace;
    public final String name;
    /** For the dataSource facet: the scrubbed URI of where the data lives (namespace + name for paths). */
    public final String sourceUri;
    /** csv, parquet, jdbc, hive, v2 ... (may be null). */
    public final String format;
    public final List<Field> fields;
    /** Another name of the same data (e.g. a catalog table's location), may be null. */
    public final DatasetRef symlink;

    public DatasetRef(String namespace, String name, String sourceUri, String format, List<Field> fields,
                      DatasetRef symlink) {
        this.namespace = Scrubber.scrubUri(Objects.requireNonNull(namespace));
        this.name = Scrubber.scrubName(Objects.requireNonNull(name));
        this.sourceUri = Scrubber.scrubUri(sourceUri);
        this.format = Scrubber.scrubName(format);
        this.fields = fields == null ? List.of() : Collections.unmodifiableList(new ArrayList<>(fields));
        this.symlink = symlink;
    }

    public DatasetRef withFields(List<Field> newFields) {
        return new DatasetRef(namespace, name, sourceUri, format, newFields, symlink);
    }

    public String key() {
        return namespace + "|" + name;
    }

    @Override
    public String toString() {
        return namespace + " " + name;
    }
}
