package scenegraph.testing;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.ConnectorPortRegister;
import org.neo4j.configuration.connectors.ConnectorType;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;
import org.neo4j.kernel.internal.GraphDatabaseAPI;

/**
 * Runs an embedded Neo4j Community DBMS with a Bolt connector on 127.0.0.1, for tests.
 *
 * <p>Usage: {@code java -jar neo4j-launcher.jar [--data-dir DIR] [--port N] [--password PW]}.
 * The password may also come from the {@code NEO4J_PASSWORD} environment variable. Without
 * {@code --data-dir} a temporary directory is used and deleted on exit; port 0 (the default)
 * lets the OS pick a free port.
 *
 * <p>Protocol: once the DBMS is ready exactly one line {@code BOLT bolt://127.0.0.1:<port>} is
 * printed on stdout; everything else goes to stderr or to {@code <data-dir>/logs}. The DBMS
 * shuts down when stdin reaches EOF (the parent went away) or on SIGTERM/SIGINT.
 */
public final class Neo4jLauncher {
    private static final String HOST = "127.0.0.1";
    private static final String USER = "neo4j";
    private static final String PASSWORD_ENV = "NEO4J_PASSWORD";
    /** Bolt waits this long for in-flight work at shutdown; the default (5 s each) slows tests. */
    private static final Duration BOLT_SHUTDOWN_WAIT = Duration.ofSeconds(1);

    private Neo4jLauncher() {}

    /** Command-line options. */
    record Options(Path dataDir, boolean temporary, int port, String password) {

        static Options parse(String[] args) throws IOException {
            Map<String, String> values = new HashMap<>();
            for (int i = 0; i < args.length; i += 2) {
                if (!args[i].startsWith("--") || i + 1 >= args.length) {
                    throw new IllegalArgumentException("expected --name value pairs, got: " + args[i]);
                }
                values.put(args[i].substring(2), args[i + 1]);
            }
            String password = values.getOrDefault("password", System.getenv(PASSWORD_ENV));
            if (password == null || password.isEmpty()) {
                throw new IllegalArgumentException("a password is required: --password or $" + PASSWORD_ENV);
            }
            int port = Integer.parseInt(values.getOrDefault("port", "0"));
            String dir = values.get("data-dir");
            if (dir == null) {
                return new Options(Files.createTempDirectory("neo4j-test-"), true, port, password);
            }
            return new Options(Path.of(dir).toAbsolutePath(), false, port, password);
        }
    }

    public static void main(String[] args) throws Exception {
        PrintStream protocolOut = System.out;
        System.setOut(System.err); // keep stdout for the single BOLT line
        Options options = Options.parse(args);

        DatabaseManagementService dbms = startDbms(options);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(dbms, options), "neo4j-shutdown"));
        setPassword(dbms, options.password());

        protocolOut.println("BOLT bolt://" + HOST + ":" + boltPort(dbms));
        protocolOut.flush();

        waitForEndOfInput();
        System.exit(0); // runs the shutdown hook
    }

    private static DatabaseManagementService startDbms(Options options) {
        return new DatabaseManagementServiceBuilder(options.dataDir())
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(HOST, options.port()))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, BOLT_SHUTDOWN_WAIT)
                .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, BOLT_SHUTDOWN_WAIT)
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.auth_minimum_password_length, 1)
                // no lock-out after failed logins: tests provoke auth errors on purpose
                .setConfig(GraphDatabaseSettings.auth_max_failed_attempts, 0)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(256))
                .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                .setConfig(GraphDatabaseSettings.udc_enabled, false)
                .build();
    }

    /**
     * Makes {@code neo4j/<password>} the only valid login, with no forced change. Recreating the
     * user keeps this idempotent across restarts (ALTER USER rejects an unchanged password), and
     * Community has no roles that recreating could lose.
     */
    private static void setPassword(DatabaseManagementService dbms, String password) {
        dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME).executeTransactionally(
                "CREATE OR REPLACE USER " + USER + " SET PASSWORD $password CHANGE NOT REQUIRED",
                Map.of("password", password));
    }

    /** The port Bolt actually bound, which differs from the configured one when that is 0. */
    private static int boltPort(DatabaseManagementService dbms) {
        GraphDatabaseAPI system =
                (GraphDatabaseAPI) dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        return system.getDependencyResolver()
                .resolveDependency(ConnectorPortRegister.class)
                .getLocalAddress(ConnectorType.BOLT)
                .getPort();
    }

    private static void waitForEndOfInput() throws IOException {
        byte[] buffer = new byte[256];
        while (System.in.read(buffer) != -1) {
            // input is ignored; only EOF matters
        }
    }

    private static void stop(DatabaseManagementService dbms, Options options) {
        System.err.println("neo4j-launcher: shutting down");
        dbms.shutdown();
        if (options.temporary()) {
            deleteRecursively(options.dataDir());
        }
    }

    private static void deleteRecursively(Path root) {
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
