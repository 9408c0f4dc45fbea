/*
 * EsEngine - a real Elasticsearch cluster in one JVM for vizfeed's tests (tests/engine/README.md),
 * with the same command line and stdout/stdin protocol as ../Engine.java (OpenSearch):
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

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

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

public final class EsEngine {
    private static final String CLUSTER = "vizfeed-engine";
    private static final int GREEN_TIMEOUT_S = 180;

    private final Path root;
    private final int nodes;
    private final int httpPort;
    private final Node[] running;
    private String seed;

    private EsEngine(Path root, int nodes, int httpPort) {
        this.root = root;
        this.nodes = nodes;
        this.httpPort = httpPort;
        this.running = new Node[nodes];
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

    private void startNode(int i) throws Exception {
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
        running[i] = node;
        if (i == 0) {
            var a = node.injector().getInstance(TransportService.class).boundAddress().publishAddress();
            seed = a.getAddress() + ":" + a.getPort();
        }
    }

    private int portOf(int i) {
        return running[i].injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress().getPort();
    }

    private int countRunning() {
        int n = 0;
        for (Node node : running)
            if (node != null) n++;
        return n;
    }

    /* Over HTTP: the health API's Java signature differs between 8.x and 9.x, its REST form not. */
    private void waitGreen() throws Exception {
        String url = "http://127.0.0.1:" + portOf(0) + "/_cluster/health?wait_for_status=green&wait_for_nodes="
                     + countRunning() + "&wait_for_no_initializing_shards=true&timeout=" + GREEN_TIMEOUT_S + "s";
        HttpResponse<String> r = HttpClient.newHttpClient().send(
            HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(GREEN_TIMEOUT_S + 30)).build(),
            HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200 || r.body().contains("\"timed_out\":true"))
            throw new IllegalStateException("cluster not green: " + r.body());
    }

    private synchronized void stopNode(int i) throws IOException, InterruptedException {
        Node node = running[i];
        running[i] = null;
        node.close();
        node.awaitClose(10, TimeUnit.SECONDS);
    }

    synchronized void closeAll() {
        for (int i = nodes - 1; i >= 0; i--) {
            if (running[i] == null) continue;
            try {
                stopNode(i);
            } catch (Exception e) {
                System.err.println("engine: closing node-" + i + ": " + e);
            }
        }
        try (Stream<Path> walk = Files.walk(root)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            System.err.println("engine: removing " + root + ": " + e);
        }
    }

    private String command(String line) throws Exception {
        String[] w = line.trim().split("\\s+");
        if (w.length == 1 && w[0].equals("ports")) {
            StringBuilder s = new StringBuilder("ports");
            for (int i = 0; i < nodes; i++) s.append(' ').append(running[i] == null ? "-" : Integer.toString(portOf(i)));
            return s.toString();
        }
        if (w.length != 2 || !(w[0].equals("stop") || w[0].equals("start")))
            return "error expected `stop I`, `start I` or `ports`, got `" + line.trim() + "`";
        int i;
        try {
            i = Integer.parseInt(w[1]);
        } catch (NumberFormatException e) {
            return "error not a node number: " + w[1];
        }
        if (i < 1 || i >= nodes) return "error node " + i + " is not one of 1.." + (nodes - 1) + " (node 0 serves HTTP)";
        if (w[0].equals("stop")) {
            if (running[i] == null) return "error node " + i + " is already stopped";
            stopNode(i);
            return "stopped " + i;
        }
        if (running[i] != null) return "error node " + i + " is already running";
        startNode(i);
        waitGreen();
        return "started " + i;
    }

    public static void main(String[] args) throws Exception {
        int port = 0, nodes = 1;
        boolean exitOnEof = false;
        for (int a = 0; a < args.length; a++) {
            switch (args[a]) {
            case "--port": port = Integer.parseInt(args[++a]); break;
            case "--nodes": nodes = Integer.parseInt(args[++a]); break;
            case "--exit-on-eof": exitOnEof = true; break;
            default:
                System.err.println("usage: EsEngine [--port N] [--nodes K] [--exit-on-eof]");
                System.exit(2);
            }
        }
        if (nodes < 1 || nodes > 5) {
            System.err.println("engine: --nodes must be 1..5");
            System.exit(2);
        }
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        System.setOut(System.err);
        // Elasticsearch logs through its own facade, which Bootstrap would wire to log4j.
        LogConfigurator.configureESLogging();

        Path root = Files.createTempDirectory("vizfeed-engine-");
        EsEngine e = new EsEngine(root, nodes, port);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            Thread dog = new Thread(() -> {
                try {
                    Thread.sleep(15000);
                } catch (InterruptedException ignored) {
                }
                Runtime.getRuntime().halt(1);
            });
            dog.setDaemon(true);
            dog.start();
            e.closeAll();
        }));
        try {
            for (int i = 0; i < nodes; i++) e.startNode(i);
            e.waitGreen();
        } catch (Exception ex) {
            System.err.println("engine: could not start: " + ex);
            ex.printStackTrace();
            System.exit(1);
        }
        out.println("ready http://127.0.0.1:" + e.portOf(0));

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) continue;
            String answer;
            try {
                answer = e.command(line);
            } catch (Exception ex) {
                answer = "error " + ex.toString().replace('\n', ' ');
            }
            out.println(answer);
        }
        if (exitOnEof) System.exit(0);
        Thread.currentThread().join();
    }
}
