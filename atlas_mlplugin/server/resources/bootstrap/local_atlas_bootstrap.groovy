/*
 * The main program of the local Atlas JVM (run by groovy.ui.GroovyMain from the Atlas war's own Groovy):
 * everything Atlas needs to keep its data across restarts, then Atlas itself.
 *
 *  1. A persistent SolrCloud node with an embedded ZooKeeper, its cores and ZooKeeper data in the state
 *     directory (Atlas's own embedded Solr, LocalSolrRunner, starts empty in a new directory each time).
 *  2. The audit store: PersistentEntityAuditRepository is compiled (once per change) into a class directory
 *     on the classpath, where Atlas's component scan finds it.
 *  3. A search index that agrees with the graph. The graph (BerkeleyDB) is the truth and the index is derived
 *     from it, so whenever the index cannot be trusted it is rebuilt from the graph before Atlas serves:
 *     the collections are missing (a new Solr directory: after a run that did not stop cleanly the launcher
 *     removes the Solr node's directory, whose ZooKeeper still holds the killed node's registrations; a
 *     changed Solr port; a state kept by an older launcher), or a rebuild is asked for (-Datlasml.reindex).
 *     An index left over from a graph that is gone is dropped.
 *  4. org.apache.atlas.Atlas.main, which reuses the graph opened here.
 *
 * Lines starting with "atlas-ml:" are progress the launcher shows to the user.
 */

import java.security.MessageDigest
import org.apache.atlas.Atlas
import org.apache.atlas.repository.graphdb.janus.AtlasJanusGraphDatabase
import org.apache.solr.client.solrj.embedded.JettyConfig
import org.apache.solr.client.solrj.embedded.JettySolrRunner
import org.apache.solr.client.solrj.impl.CloudSolrClient
import org.apache.solr.client.solrj.request.CollectionAdminRequest
import org.apache.solr.client.solrj.SolrQuery
import org.apache.solr.common.cloud.ZkConfigManager
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.CompilerConfiguration
import org.janusgraph.core.schema.SchemaAction

final List<String> INDEXES = ["vertex_index", "edge_index", "fulltext_index"]

def say = { String message -> println "atlas-ml: $message"; System.out.flush() }
def required = { String name ->
    String value = System.getProperty(name)
    if (!value) { throw new IllegalStateException("system property $name is not set (the launcher sets it)") }
    value
}
long started = System.currentTimeMillis()

// --- 2. the audit store's class -------------------------------------------------------------------------
File auditSource = new File(required("atlasml.audit.source"))
File classes = new File(required("atlasml.classes"))
File stamp = new File(classes, ".source-sha256")
String digest = MessageDigest.getInstance("SHA-256").digest(auditSource.bytes).encodeHex().toString()
if (!stamp.isFile() || stamp.text != digest) {
    classes.listFiles()?.each { it.isDirectory() ? it.deleteDir() : it.delete() }
    CompilerConfiguration config = new CompilerConfiguration()
    config.targetDirectory = classes
    CompilationUnit unit = new CompilationUnit(config)
    unit.addSource(auditSource)
    unit.compile()
    stamp.text = digest
}

// --- 1. Solr --------------------------------------------------------------------------------------------
File solrHome = new File(required("atlasml.solr.home"))
int solrPort = Integer.parseInt(required("atlasml.solr.port"))
System.setProperty("zkRun", "")  // the node runs ZooKeeper itself, data in solrHome/zoo_data, on port + 1000
System.setProperty("host", "127.0.0.1")
System.setProperty("hostPort", String.valueOf(solrPort))
JettySolrRunner solr = new JettySolrRunner(solrHome.path,
        JettyConfig.builder().setPort(solrPort).setContext("/solr").stopAtShutdown(true).build())
solr.start()
String zkHost = "127.0.0.1:${solrPort + 1000}"
CloudSolrClient client = new CloudSolrClient.Builder().withZkHost(zkHost).build()
client.connect()
// Each collection uses a configset of its own name (what JanusGraph asks for when it creates one).
def zk = client.getZkStateReader().getZkClient()
List<String> configs = zk.exists("/configs", true) ? zk.getChildren("/configs", null, true) : []
File template = new File(required("embedded.solr.directory"), "solr/core-template")
INDEXES.findAll { !configs.contains(it) }.each { new ZkConfigManager(zk).uploadConfigDir(template.toPath(), it) }

// --- 3. an index that agrees with the graph -------------------------------------------------------------
def graph = AtlasJanusGraphDatabase.getGraphInstance()
def management = graph.openManagement()
// Instances a killed JVM left registered in the graph are gone: only this JVM can hold the store's lock.
management.getOpenInstances().findAll { !it.endsWith("(current)") }.each { management.forceCloseInstance(it) }
management.commit()
management = graph.openManagement()
List<String> graphIndexes = INDEXES.findAll { management.getGraphIndex(it) != null }
management.rollback()
List<String> collections = CollectionAdminRequest.listCollections(client)

if (!graphIndexes) {
    // A new (or wiped) graph: any collection is an index of data that no longer exists. Atlas creates the
    // collections again when it registers its indexes.
    INDEXES.findAll { collections.contains(it) }.each {
        say "dropping the search index '$it' of a graph that no longer exists"
        CollectionAdminRequest.deleteCollection(it).process(client)
    }
} else {
    List<String> missing = graphIndexes.findAll { !collections.contains(it) }
    String reason = System.getProperty("atlasml.reindex", "")
    if (missing) {
        reason = reason ?: "the search index is missing (${missing.join(', ')})"
        missing.each { CollectionAdminRequest.createCollection(it, it, 1, 1).setMaxShardsPerNode(1).process(client) }
    }
    if (reason) {
        long vertices = graph.traversal().V().count().next()
        say "rebuilding the search index from the graph ($vertices vertices): $reason"
        // The three indexes are rebuilt at once: each scan job reads the graph on threads of its own.
        long t = System.currentTimeMillis()
        def jobs = graphIndexes.collect { name ->
            def m = graph.openManagement()
            [name, m, m.updateIndex(m.getGraphIndex(name), SchemaAction.REINDEX)]
        }
        jobs.each { job ->
            job[2].get()
            job[1].commit()
            say "  ${job[0]} rebuilt after ${(System.currentTimeMillis() - t) / 1000} s"
        }
        graphIndexes.each { client.commit(it) }
        long indexed = client.query("vertex_index", new SolrQuery("*:*").setRows(0)).getResults().getNumFound()
        say "search index rebuilt: $indexed vertices indexed"
    }
}
client.close()
say "storage and search index ready after ${(System.currentTimeMillis() - started) / 1000} s"

// --- 4. Atlas --------------------------------------------------------------------------------------------
Atlas.main(args)
