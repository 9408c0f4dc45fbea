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

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.opensearch.action.admin.cluster.health.ClusterHealthResponse;
import org.opensearch.cluster.health.ClusterHealthStatus;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.unit.TimeValue;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;
import org.opensearch.transport.TransportService;
import org.opensearch.core.common.transport.TransportAddress;

public final class Engine {
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

    private static final String CLUSTER = "vizfeed-engine";
    /* How long the cluster may take to become green after a start (a JVM on a busy 2-core
     * machine, three nodes); past it the launcher gives up with an error instead of hanging. */
    private static final TimeValue GREEN_TIMEOUT = TimeValue.timeValueSeconds(180);

    private final Path root;
    private final int nodes;
    private final int httpPort;
    private final Node[] running;
    private String seed;
    private final PrintStream out;

    private Engine(Path root, int nodes, int httpPort, PrintStream out) {
        this.root = root;
        this.nodes = nodes;
        this.httpPort = httpPort;
        this.running = new Node[nodes];
        this.out = out;
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

    private void startNode(int i) throws Exception {
        Node node = new ClasspathNode(settings(i), List.of(Netty4Plugin.class));
        node.start();
        running[i] = node;
        if (i == 0) {
            TransportAddress a = node.injector().getInstance(TransportService.class).boundAddress().publishAddress();
            seed = a.getAddress() + ":" + a.getPort();
        }
    }

    private int portOf(int i) {
        return running[i].injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress().getPort();
    }

    private void waitGreen() {
        ClusterHealthResponse h = running[0]
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

    private int countRunning() {
        int n = 0;
        for (Node node : running)
            if (node != null) n++;
        return n;
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
                System.err.println("usage: Engine [--port N] [--nodes K] [--exit-on-eof]");
                System.exit(2);
            }
        }
        if (nodes < 1 || nodes > 5) {
            System.err.println("engine: --nodes must be 1..5");
            System.exit(2);
        }
        // stdout is the protocol: keep a handle on it and send everything else to stderr.
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
        System.setOut(System.err);

        Path root = Files.createTempDirectory("vizfeed-engine-");
        Engine e = new Engine(root, nodes, port, out);
        Thread hook = new Thread(() -> {
            // A watchdog: whatever a node does while closing, the process is gone within seconds.
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
        });
        Runtime.getRuntime().addShutdownHook(hook);
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
        // stdin closed (a terminal's Ctrl-D, or /dev/null): keep serving until SIGTERM.
        Thread.currentThread().join();
    }
}
