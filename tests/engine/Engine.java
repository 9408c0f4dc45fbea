/*
 * Engine - a real OpenSearch cluster in one JVM for vizfeed's tests (tests/engine/README.md).
 *
 *   java -Xmx1g -cp CLASSPATH Engine --port N --nodes K
 *
 * Starts K nodes in this process, each with the Netty4 transport and HTTP layer loaded as a
 * class path plugin (the way OpenSearch's REST integration tests start theirs), all bound to
 * 127.0.0.1, their data under a temporary directory that is removed at exit. Node 0 is the only
 * cluster-manager-eligible node and serves HTTP on port N (0: a free port); the others are data
 * nodes, so that stopping one of them never costs the cluster its manager.
 *
 * When the cluster is green it prints exactly one line on stdout:
 *     ready http://127.0.0.1:PORT
 * Then it reads commands, one a line, on stdin, and answers each with one line on stdout:
 *     stop I    closes node I (1..K-1) as a crash would look to the others -> "stopped I"
 *     start I   starts node I again on its old data, waits until green      -> "started I"
 *     ports     the HTTP port of every running node                         -> "ports P0 P1 ..."
 * A command that cannot be done is answered "error TEXT". SIGTERM (or the end of stdin when
 * started with --exit-on-eof) closes every node and removes the data within seconds.
 */

import java.io.IOException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.opensearch.action.admin.cluster.health.ClusterHealthResponse;
import org.opensearch.cluster.health.ClusterHealthStatus;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.unit.TimeValue;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;
import org.opensearch.transport.TransportService;
import org.opensearch.core.common.transport.TransportAddress;

import vizfeed.engine.Launcher;

public final class Engine extends Launcher<Node> {
    /* A Node that takes its plugins from the class path instead of a plugins directory: the
     * protected constructor OpenSearch's own MockNode uses for the same purpose. */
    static final class ClasspathNode extends Node {
        ClasspathNode(Settings settings, Collection<Class<? extends Plugin>> plugins) {
            super(InternalSettingsPreparer.prepareEnvironment(settings, java.util.Collections.emptyMap(), null,
                                                              () -> settings.get("node.name")),
                  plugins, true);
        }

        /* Several nodes share this JVM and its logging: the listener that puts a node's id into
         * log lines may be set once only, as MockNode knows too. */
        @Override
        protected void configureNodeAndClusterIdStateListener(org.opensearch.cluster.service.ClusterService c) {}
    }

    private static final TimeValue GREEN_TIMEOUT = TimeValue.timeValueSeconds(GREEN_TIMEOUT_S);

    private Engine(Path root, int nodes, int httpPort) {
        super(root, nodes, httpPort);
    }

    private Settings settings(int i) {
        Settings.Builder b = Settings.builder()
                                 .put("cluster.name", CLUSTER)
                                 .put("node.name", "node-" + i)
                                 .put("path.home", root.resolve("node-" + i).toString())
                                 .put("path.data", root.resolve("node-" + i).resolve("data").toString())
                                 .put("network.host", "127.0.0.1")
                                 .put("http.port", i == 0 ? Integer.toString(httpPort) : "0")
                                 .put("transport.port", "0")
                                 // A test machine's disk may be nearly full: that must not stop shards
                                 // from being allocated.
                                 .put("cluster.routing.allocation.disk.threshold_enabled", false)
                                 // Everything here is torn down at exit: no need to sync every write.
                                 .put("node.processors", Math.min(2, Runtime.getRuntime().availableProcessors()))
                                 .put("action.auto_create_index", true);
        if (nodes == 1) {
            b.put("discovery.type", "single-node");
        } else if (i == 0) {
            b.putList("node.roles", "cluster_manager", "data", "ingest");
            b.putList("cluster.initial_cluster_manager_nodes", "node-0");
            b.putList("discovery.seed_hosts", List.of());
        } else {
            b.putList("node.roles", "data", "ingest");
            b.putList("discovery.seed_hosts", seed);
        }
        return b.build();
    }

    @Override
    protected Node newNode(int i) throws Exception {
        Node node = new ClasspathNode(settings(i), List.of(Netty4Plugin.class));
        node.start();
        if (i == 0) {
            TransportAddress a = node.injector().getInstance(TransportService.class).boundAddress().publishAddress();
            seed = a.getAddress() + ":" + a.getPort();
        }
        return node;
    }

    @Override
    protected int httpPortOf(Node node) {
        return node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress().getPort();
    }

    @Override
    protected void closeNode(Node node) throws IOException, InterruptedException {
        node.close();
        node.awaitClose(10, TimeUnit.SECONDS);
    }

    @Override
    protected void waitGreen() {
        ClusterHealthResponse h = node(0)
                                      .client()
                                      .admin()
                                      .cluster()
                                      .prepareHealth()
                                      .setWaitForStatus(ClusterHealthStatus.GREEN)
                                      .setWaitForNodes(Integer.toString(countRunning()))
                                      .setWaitForNoInitializingShards(true)
                                      .setTimeout(GREEN_TIMEOUT)
                                      .get();
        if (h.isTimedOut())
            throw new IllegalStateException("cluster not green after " + GREEN_TIMEOUT + ": " + h.getStatus());
    }

    public static void main(String[] args) throws Exception {
        Launcher.run("Engine", args, Engine::new);
    }
}
