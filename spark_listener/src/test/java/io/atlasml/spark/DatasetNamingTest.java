package io.atlasml.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.Map;
import org.junit.jupiter.api.Test;

class DatasetNamingTest {
    private static void assertName(String ns, String name, DatasetRef d) {
        assertEquals(ns, d.namespace);
        assertEquals(name, d.name);
    }

    @Test
    void paths() {
        assertName("file", "/tmp/in.csv", DatasetNaming.path("file:/tmp/in.csv", "csv", null));
        assertName("file", "/tmp/out", DatasetNaming.path("file:///tmp/out/", "parquet", null));
        assertName("file", "/tmp/x", DatasetNaming.path("/tmp/x", null, null));
        assertName("s3://bucket", "/raw/x.parquet", DatasetNaming.path("s3a://bucket/raw/x.parquet", null, null));
        assertName("hdfs://nn:8020", "/data/x", DatasetNaming.path("hdfs://nn:8020/data/x", null, null));
        assertName("gs://b", "/p", DatasetNaming.path("gs://b/p", null, null));
        assertName("s3://bucket", "/k", DatasetNaming.path("s3a://AKIA:SECRET@bucket/k", null, null));
        assertEquals("file:///tmp/in.csv", DatasetNaming.path("file:/tmp/in.csv", "csv", null).sourceUri);
        assertEquals("s3://bucket/raw/x", DatasetNaming.path("s3a://bucket/raw/x", null, null).sourceUri);
    }

    @Test
    void jdbc() {
        DatasetRef d = DatasetNaming.jdbc("jdbc:postgresql://u:p@db:5432/app?password=p&ssl=true", "public.users",
                null);
        assertName("jdbc:postgresql://db:5432/app?ssl=true", "public.users", d);
        assertEquals("jdbc", d.format);
    }

    @Test
    void tables() {
        AtlasConfig wh = AtlasConfig.fromMap(Map.of("spark.sql.warehouse.dir", "file:/work/spark-warehouse"));
        DatasetRef t = DatasetNaming.table(wh, null, "default", "sales", "file:/work/spark-warehouse/sales",
                "parquet", null);
        assertName("file:///work/spark-warehouse", "default.sales", t);
        assertName("file", "/work/spark-warehouse/sales", t.symlink);

        AtlasConfig hive = AtlasConfig.fromMap(Map.of("spark.hadoop.hive.metastore.uris",
                "thrift://ms:9083,thrift://ms2:9083"));
        assertName("hive://ms:9083", "db.t", DatasetNaming.table(hive, null, "db", "t", null, null, null));
        assertNull(DatasetNaming.table(hive, null, "db", "t", null, null, null).symlink);

        AtlasConfig v2 = AtlasConfig.fromMap(Map.of("spark.sql.catalog.pg.url",
                "jdbc:postgresql://db/app?user=u&password=secret"));
        assertName("jdbc:postgresql://db/app", "public.t", DatasetNaming.table(v2, "pg", "public", "t", null, null,
                null));
        assertName("spark_catalog://other", "t", DatasetNaming.table(v2, "other", null, "t", null, null, null));
    }
}
