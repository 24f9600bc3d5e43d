package io.atlasml.spark;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.execution.datasources.FileFormat;
import org.apache.spark.sql.sources.DataSourceRegister;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/** Small naming helpers shared by the plan visitors. */
final class Names {
    private Names() {
    }

    static List<DatasetRef.Field> fields(StructType schema) {
        List<DatasetRef.Field> out = new ArrayList<>();
        if (schema == null) {
            return out;
        }
        for (StructField f : schema.fields()) {
            out.add(new DatasetRef.Field(f.name(), f.dataType().simpleString()));
            if (out.size() >= 500) {
                break;
            }
        }
        return out;
    }

    static String format(Object fileFormatOrProvider) {
        if (fileFormatOrProvider == null) {
            return null;
        }
        if (fileFormatOrProvider instanceof DataSourceRegister) {
            return ((DataSourceRegister) fileFormatOrProvider).shortName().toLowerCase(Locale.ROOT);
        }
        if (fileFormatOrProvider instanceof FileFormat) {
            return fileFormatOrProvider.toString().toLowerCase(Locale.ROOT);
        }
        String simple = fileFormatOrProvider.getClass().getSimpleName();
        return simple.isEmpty() ? null : simple;
    }

    /** "InsertIntoHadoopFsRelationCommand" -> "insert_into_hadoop_fs_relation_command". */
    static String snake(String camel) {
        return camel.replaceAll("\\$", "").replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
    }

    /** A dataset name made safe for a job name: "/tmp/out/x.parquet" -> "tmp_out_x.parquet". */
    static String jobSafe(String name) {
        String s = name.replaceAll("^/+", "").replaceAll("[^A-Za-z0-9_.-]+", "_");
        return s.length() > 200 ? s.substring(s.length() - 200) : s;
    }

    /** Invokes a no-arg method by name (for plan nodes of optional modules, e.g. spark-hive). */
    static Object call(Object target, String method) {
        try {
            return target.getClass().getMethod(method).invoke(target);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }
}
