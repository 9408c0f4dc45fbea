/*
 * EsEngine - a real Elasticsearch cluster in one JVM for vizfeed's tests (tests/engine/README.md),
 * with the same command line and stdout/stdin protocol as ../Engine.java (OpenSearch), both from
 * ../Launcher.java:
 *
 *   java -Xmx1g -cp CLASSPATH org.elasticsearch.node.EsEngine --port N --nodes K [--exit-on-eof]
 *   -> "ready http://127.0.0.1:PORT" once green; then "stop I" / "start I" / "ports" on stdin.
 *
 * Each node is built the way Elasticsearch's own MockNode builds one: NodeConstruction with a
 * service provider whose PluginsService holds the Netty4 module given as a class on the class
 * path. That API is package-private, hence this class's package. Elastic publishes the server
 * and transport-netty4 on Maven Central, not rest-root (GET /) nor x-pack: what those bring is
 * missing here (docs/TEST_ELASTICSEARCH.md).
 */
package org.elasticsearch.node;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.Build;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.plugins.EsClasspathPlugins;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.transport.TransportService;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import vizfeed.engine.Launcher;

public final class EsEngine extends Launcher<Node> {
    private EsEngine(Path root, int nodes, int httpPort) {
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
                                 .put("cluster.routing.allocation.disk.threshold_enabled", false)
                                 .put("node.processors", Math.min(2, Runtime.getRuntime().availableProcessors()));
        if (nodes == 1) {
            b.put("discovery.type", "single-node");
        } else if (i == 0) {
            b.putList("node.roles", "master", "data", "ingest");
            b.putList("cluster.initial_master_nodes", "node-0");
            b.putList("discovery.seed_hosts", List.of());
        } else {
            b.putList("node.roles", "data", "ingest");
            b.putList("discovery.seed_hosts", seed);
        }
        return b.build();
    }

    @Override
    protected Node newNode(int i) throws Exception {
        Settings s = settings(i);
        Environment env = InternalSettingsPreparer.prepareEnvironment(s, Map.of(), null, () -> "node-" + i);
        NodeServiceProvider provider = new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment e, PluginsLoader loader) {
                try {
                    return new EsClasspathPlugins(e.settings(), List.of(Netty4Plugin.class), Build.current().version());
                } catch (Exception x) {
                    throw new IllegalStateException(x);
                }
            }
        };
        PluginsLoader loader = PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false);
        Node node = new Node(NodeConstruction.prepareConstruction(env, loader, provider, true));
        node.start();
        if (i == 0) {
            var a = node.injector().getInstance(TransportService.class).boundAddress().publishAddress();
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

    /* Over HTTP: the health API's Java signature differs between 8.x and 9.x, its REST form not. */
    @Override
    protected void waitGreen() throws Exception {
        String url = "http://127.0.0.1:" + portOf(0) + "/_cluster/health?wait_for_status=green&wait_for_nodes="
                     + countRunning() + "&wait_for_no_initializing_shards=true&timeout=" + GREEN_TIMEOUT_S + "s";
        HttpResponse<String> r = HttpClient.newHttpClient().send(
            HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(GREEN_TIMEOUT_S + 30)).build(),
            HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200 || r.body().contains("\"timed_out\":true"))
            throw new IllegalStateException("cluster not green: " + r.body());
    }

    public static void main(String[] args) throws Exception {
        Launcher.run("EsEngine", args, (root, nodes, port) -> {
            // Elasticsearch logs through its own facade, which Bootstrap would wire to log4j.
            LogConfigurator.configureESLogging();
            return new EsEngine(root, nodes, port);
        });
    }
}
