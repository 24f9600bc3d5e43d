package io.atlasml.spark;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Scala collections seen from Java, written against what Scala 2.12 and 2.13 share (Iterable.iterator,
 * Option.isDefined/get, Tuple2), so the same source compiles for both jars.
 */
final class ScalaInterop {
    private ScalaInterop() {
    }

    static <T> List<T> list(scala.collection.Iterable<? extends T> seq) {
        List<T> out = new ArrayList<>();
        if (seq == null) {
            return out;
        }
        scala.collection.Iterator<? extends T> it = seq.iterator();
        while (it.hasNext()) {
            out.add(it.next());
        }
        return out;
    }

    static Map<String, String> map(scala.collection.Map<String, String> m) {
        Map<String, String> out = new LinkedHashMap<>();
        if (m == null) {
            return out;
        }
        scala.collection.Iterator<scala.Tuple2<String, String>> it = m.iterator();
        while (it.hasNext()) {
            scala.Tuple2<String, String> kv = it.next();
            out.put(kv._1(), kv._2());
        }
        return out;
    }

    static <T> T option(scala.Option<T> o) {
        return o != null && o.isDefined() ? o.get() : null;
    }
}
