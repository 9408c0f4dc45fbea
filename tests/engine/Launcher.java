/*
 * Launcher - what Engine.java (OpenSearch) and elasticsearch/EsEngine.java have in common: the
 * command line, the stdout/stdin protocol (tests/engine/README.md), the node table, the removal
 * of the data directory and the shutdown. A subclass says only how one node of its engine is
 * configured, started, closed, asked for its HTTP port and waited on until the cluster is green.
 * `dev`'s engine_prepare compiles this file together with either engine's sources.
 */
package vizfeed.engine;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

public abstract class Launcher<N> {
    protected static final String CLUSTER = "vizfeed-engine";
    /* How long the cluster may take to become green after a start (a JVM on a busy 2-core
     * machine, three nodes); past it the launcher gives up with an error instead of hanging. */
    protected static final int GREEN_TIMEOUT_S = 180;

    protected final Path root;
    protected final int nodes;
    protected final int httpPort;
    /* Node I, or null while it is stopped. */
    private final List<N> running;
    /* host:port of node 0's transport, the seed the other nodes discover the cluster through. */
    protected String seed;

    protected Launcher(Path root, int nodes, int httpPort) {
        this.root = root;
        this.nodes = nodes;
        this.httpPort = httpPort;
        this.running = new ArrayList<>(Collections.nCopies(nodes, null));
    }

    /* Builds and starts node I (setting `seed` when I is 0). */
    protected abstract N newNode(int i) throws Exception;

    protected abstract int httpPortOf(N node);

    protected abstract void closeNode(N node) throws IOException, InterruptedException;

    /* Returns once every running node has joined and the cluster is green, throws otherwise. */
    protected abstract void waitGreen() throws Exception;

    protected final N node(int i) {
        return running.get(i);
    }

    protected final int portOf(int i) {
        return httpPortOf(running.get(i));
    }

    protected final int countRunning() {
        int n = 0;
        for (N node : running)
            if (node != null) n++;
        return n;
    }

    private void startNode(int i) throws Exception {
        running.set(i, newNode(i));
    }

    private synchronized void stopNode(int i) throws IOException, InterruptedException {
        N node = running.get(i);
        running.set(i, null);
        closeNode(node);
    }

    synchronized void closeAll() {
        for (int i = nodes - 1; i >= 0; i--) {
            if (running.get(i) == null) continue;
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
            for (int i = 0; i < nodes; i++)
                s.append(' ').append(running.get(i) == null ? "-" : Integer.toString(portOf(i)));
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
            if (running.get(i) == null) return "error node " + i + " is already stopped";
            stopNode(i);
            return "stopped " + i;
        }
        if (running.get(i) != null) return "error node " + i + " is already running";
        startNode(i);
        waitGreen();
        return "started " + i;
    }

    /* Makes the launcher of one engine, once stdout is the protocol's alone. */
    public interface Factory {
        Launcher<?> create(Path root, int nodes, int httpPort) throws Exception;
    }

    /* The whole life of a launcher process: arguments, start, "ready", commands, shutdown. */
    public static void run(String name, String[] args, Factory factory) throws Exception {
        int port = 0, nodes = 1;
        boolean exitOnEof = false;
        for (int a = 0; a < args.length; a++) {
            switch (args[a]) {
            case "--port": port = Integer.parseInt(args[++a]); break;
            case "--nodes": nodes = Integer.parseInt(args[++a]); break;
            case "--exit-on-eof": exitOnEof = true; break;
            default:
                System.err.println("usage: " + name + " [--port N] [--nodes K] [--exit-on-eof]");
                System.exit(2);
            }
        }
        if (nodes < 1 || nodes > 5) {
            System.err.println("engine: --nodes must be 1..5");
            System.exit(2);
        }
        // stdout is the protocol: keep a handle on it and send everything else to stderr.
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        System.setOut(System.err);

        Path root = Files.createTempDirectory("vizfeed-engine-");
        Launcher<?> e = factory.create(root, nodes, port);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
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
        // stdin closed (a terminal's Ctrl-D, or /dev/null): keep serving until SIGTERM.
        Thread.currentThread().join();
    }
}
