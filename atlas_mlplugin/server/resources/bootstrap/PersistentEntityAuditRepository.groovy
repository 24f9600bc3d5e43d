/*
 * Entity audit events of the local Atlas, kept on disk (BerkeleyDB Java Edition, which the Atlas war already
 * ships for the graph). Atlas 2.1.0 has persistent audit stores only for HBase and Cassandra; without one,
 * its in-memory store loses every audit at a restart.
 *
 * Compiled by local_atlas_bootstrap.groovy and selected with
 * atlas.EntityAuditRepository.impl=org.apache.atlas.mlplugin.audit.PersistentEntityAuditRepository; it lives
 * under org.apache.atlas only because Atlas's Spring component scan covers that package alone.
 *
 * Keys are "<entity guid><Long.MAX_VALUE - timestamp><sequence>", so one entity's events sort newest first
 * (as Atlas's HBase and in-memory stores order them) and two events in one millisecond do not overwrite each
 * other. Every write is committed before the call returns (durable against a killed process).
 */
package org.apache.atlas.mlplugin.audit

import com.sleepycat.je.Cursor
import com.sleepycat.je.CursorConfig
import com.sleepycat.je.Database
import com.sleepycat.je.DatabaseConfig
import com.sleepycat.je.DatabaseEntry
import com.sleepycat.je.Durability
import com.sleepycat.je.Environment
import com.sleepycat.je.EnvironmentConfig
import com.sleepycat.je.LockMode
import com.sleepycat.je.OperationStatus
import groovy.transform.CompileStatic
import java.nio.charset.StandardCharsets
import java.util.concurrent.atomic.AtomicLong
import javax.inject.Singleton
import org.apache.atlas.ApplicationProperties
import org.apache.atlas.AtlasException
import org.apache.atlas.EntityAuditEvent
import org.apache.atlas.annotation.ConditionalOnAtlasProperty
import org.apache.atlas.model.audit.EntityAuditEventV2
import org.apache.atlas.repository.audit.EntityAuditRepository
import org.apache.atlas.type.AtlasType
import org.springframework.stereotype.Component

@Singleton
@Component
@ConditionalOnAtlasProperty(property = "atlas.EntityAuditRepository.impl")
@CompileStatic
class PersistentEntityAuditRepository implements EntityAuditRepository {
    static final String DIRECTORY_PROPERTY = "atlas.EntityAuditRepository.local.directory"
    static final String MAX_RECORD_BYTES_PROPERTY = "atlas.EntityAuditRepository.local.max.record.bytes"
    static final long DEFAULT_MAX_RECORD_BYTES = 32_768L

    private final Environment environment
    private final Database v1
    private final Database v2
    private final AtomicLong sequence = new AtomicLong()
    private final long maxRecordBytes

    PersistentEntityAuditRepository() {
        String path = ApplicationProperties.get().getString(DIRECTORY_PROPERTY)
        if (!path) {
            throw new IllegalStateException("$DIRECTORY_PROPERTY is not set: where should audit events be kept?")
        }
        maxRecordBytes = ApplicationProperties.get().getLong(MAX_RECORD_BYTES_PROPERTY, DEFAULT_MAX_RECORD_BYTES)
        File directory = new File(path)
        directory.mkdirs()
        EnvironmentConfig environmentConfig = new EnvironmentConfig()
        environmentConfig.setAllowCreate(true)
        environmentConfig.setTransactional(true)
        environmentConfig.setDurability(Durability.COMMIT_WRITE_NO_SYNC)
        environment = new Environment(directory, environmentConfig)
        DatabaseConfig databaseConfig = new DatabaseConfig()
        databaseConfig.setAllowCreate(true)
        databaseConfig.setTransactional(true)
        v1 = environment.openDatabase(null, "audit_v1", databaseConfig)
        v2 = environment.openDatabase(null, "audit_v2", databaseConfig)
        Runtime.getRuntime().addShutdownHook(new Thread({ close() } as Runnable, "atlas-ml-audit-close"))
    }

    synchronized void close() {
        if (environment.isValid()) {
            v1.close()
            v2.close()
            environment.close()
        }
    }

    private String keyOf(String entityId, long timestamp) {
        long inverted = 999_999L - (sequence.incrementAndGet() % 1_000_000L)  // later writes sort first
        return entityId + String.valueOf(Long.MAX_VALUE - timestamp) + String.format("%06d", inverted)
    }

    private static DatabaseEntry entry(String text) {
        return new DatabaseEntry(text.getBytes(StandardCharsets.UTF_8))
    }

    private static String text(DatabaseEntry entry) {
        return new String(entry.getData(), entry.getOffset(), entry.getSize(), StandardCharsets.UTF_8)
    }

    private void put(Database database, Map<String, String> records) {
        if (records.isEmpty()) {
            return
        }
        def transaction = environment.beginTransaction(null, null)
        try {
            records.each { String key, String json -> database.put(transaction, entry(key), entry(json)) }
            transaction.commit()
        } catch (Throwable e) {
            transaction.abort()
            throw e
        }
    }

    /** JSON records of one entity, newest first, from startKey (inclusive) on, that `accept` takes. */
    private List<String> scan(Database database, String entityId, String startKey, int max,
                              Closure<Boolean> accept) {
        List<String> found = []
        Cursor cursor = database.openCursor(null, CursorConfig.READ_COMMITTED)
        try {
            DatabaseEntry key = entry(startKey ?: entityId)
            DatabaseEntry value = new DatabaseEntry()
            OperationStatus status = cursor.getSearchKeyRange(key, value, LockMode.DEFAULT)
            while (status == OperationStatus.SUCCESS && found.size() < max && text(key).startsWith(entityId)) {
                String json = text(value)
                if (accept.call(json)) {
                    found.add(json)
                }
                status = cursor.getNext(key, value, LockMode.DEFAULT)
            }
        } finally {
            cursor.close()
        }
        return found
    }

    @Override
    void putEventsV1(EntityAuditEvent... events) throws AtlasException {
        putEventsV1(Arrays.asList(events))
    }

    @Override
    synchronized void putEventsV1(List<EntityAuditEvent> events) throws AtlasException {
        Map<String, String> records = new LinkedHashMap<>()
        for (EntityAuditEvent event : events) {
            String key = keyOf(event.getEntityId(), event.getTimestamp())
            event.setEventKey(key)
            records.put(key, AtlasType.toV1Json(event))
        }
        put(v1, records)
    }

    @Override
    List<EntityAuditEvent> listEventsV1(String entityId, String startKey, short n) throws AtlasException {
        return scan(v1, entityId, startKey, n) { String json -> true }
                .collect { String json -> AtlasType.fromV1Json(json, EntityAuditEvent) }
    }

    @Override
    void putEventsV2(EntityAuditEventV2... events) {
        putEventsV2(Arrays.asList(events))
    }

    @Override
    synchronized void putEventsV2(List<EntityAuditEventV2> events) {
        Map<String, String> records = new LinkedHashMap<>()
        for (EntityAuditEventV2 event : events) {
            String key = keyOf(event.getEntityId(), event.getTimestamp())
            event.setEventKey(key)
            records.put(key, AtlasType.toJson(event))
        }
        put(v2, records)
    }

    @Override
    List<EntityAuditEventV2> listEventsV2(String entityId, EntityAuditEventV2.EntityAuditActionV2 auditAction,
                                          String startKey, short maxResultCount) {
        return scan(v2, entityId, startKey, maxResultCount) { String json ->
            auditAction == null || AtlasType.fromJson(json, EntityAuditEventV2).getAction() == auditAction
        }.collect { String json -> AtlasType.fromJson(json, EntityAuditEventV2) }
    }

    @Override
    Set<String> getEntitiesWithTagChanges(long fromTimestamp, long toTimestamp) {
        Set<String> entities = new HashSet<>()
        Cursor cursor = v2.openCursor(null, CursorConfig.READ_COMMITTED)
        try {
            DatabaseEntry key = new DatabaseEntry()
            DatabaseEntry value = new DatabaseEntry()
            while (cursor.getNext(key, value, LockMode.DEFAULT) == OperationStatus.SUCCESS) {
                EntityAuditEventV2 event = AtlasType.fromJson(text(value), EntityAuditEventV2)
                long timestamp = event.getTimestamp()
                if (timestamp > fromTimestamp && timestamp <= toTimestamp
                        && String.valueOf(event.getAction()).contains("CLASSIFICATION")) {
                    entities.add(event.getEntityId())
                }
            }
        } finally {
            cursor.close()
        }
        return entities
    }

    @Override
    List<Object> listEvents(String entityId, String startKey, short n) {
        List<Object> events = new ArrayList<Object>(listEventsV2(entityId, null, startKey, n))
        if (events.isEmpty()) {
            events.addAll(listEventsV1(entityId, startKey, n))
        }
        return events
    }

    /**
     * Atlas stores an audit record's entity without its attribute values when the record is longer than this,
     * and only a summary when it is still too long (EntityAuditListenerV2), as with HBase's cell size limit.
     * Unlimited (-1), every propagated tag wrote the whole entity with all its tags again: a model downstream
     * of many tagged datasets grew its history quadratically (17 GB of audit for 2,000 lineage events).
     */
    @Override
    long repositoryMaxSize() {
        return maxRecordBytes
    }

    @Override
    List<String> getAuditExcludeAttributes(String entityType) {
        return null
    }
}
