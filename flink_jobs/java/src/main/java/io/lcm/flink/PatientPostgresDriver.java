package io.lcm.flink;

import java.sql.Connection;
import java.sql.Driver;
import java.sql.DriverPropertyInfo;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.Properties;
import java.util.StringJoiner;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The PostgreSQL JDBC driver, patient: a connection attempt that fails because the server
 * is away (refused, shutting down, starting up) is retried with backoff for up to
 * {@code lcmConnectWaitSeconds} (a parameter of the URL, removed before the real driver sees
 * it) instead of failing at once.
 *
 * <p>Why: the JDBC sink reconnects after a failed write, and gives up (failing the job) when
 * that one reconnect fails, so a PostgreSQL restart of a few seconds would restart the whole
 * job. With this driver the sink waits the outage out, holding back its input (back
 * pressure) and the checkpoint, and writes on when the server is back. A wrong password or
 * a missing database still fails at once. The wait is interruptible, and capped below
 * Flink's task cancellation timeout, so a cancelled job never hangs in it.
 *
 * <p>Used by name in the sink options ({@code 'driver' = 'io.lcm.flink.PatientPostgresDriver'});
 * it does not register itself, so nothing else picks it up for postgresql URLs.
 */
public final class PatientPostgresDriver implements Driver {
    private static final Logger LOG = LoggerFactory.getLogger(PatientPostgresDriver.class);
    static final String WAIT_PARAM = "lcmConnectWaitSeconds";
    private static final long MAX_BACKOFF_MS = 5_000;

    private final Driver postgres = new org.postgresql.Driver();

    /** The URL without our parameter, and the wait it asks for in seconds ("0" if none). */
    static String[] split(String url) throws SQLException {
        int q = url.indexOf('?');
        if (q < 0) {
            return new String[] {url, "0"};
        }
        String wait = "0";
        StringJoiner rest = new StringJoiner("&");
        for (String kv : url.substring(q + 1).split("&")) {
            if (kv.startsWith(WAIT_PARAM + "=")) {
                wait = kv.substring(WAIT_PARAM.length() + 1);
                if (!wait.matches("\\d{1,6}")) {
                    throw new SQLException(WAIT_PARAM + " must be a whole number of seconds, got '"
                            + wait + "'", "08001");
                }
            } else if (!kv.isEmpty()) {
                rest.add(kv);
            }
        }
        String base = url.substring(0, q);
        return new String[] {rest.length() == 0 ? base : base + "?" + rest, wait};
    }

    /** A failure worth waiting out: the server is not there (yet), not a refusal of us. */
    static boolean serverAway(SQLException e) {
        String state = e.getSQLState();
        return state != null
                && (state.startsWith("08") // connection exception: refused, broken, reset
                        || state.equals("57P01") // admin shutdown
                        || state.equals("57P02") // crash shutdown
                        || state.equals("57P03")); // cannot connect now: starting up
    }

    @Override
    public Connection connect(String url, Properties info) throws SQLException {
        if (!acceptsURL(url)) {
            return null;
        }
        String[] parts = split(url);
        long waitMs = Long.parseLong(parts[1]) * 1000;
        long deadline = System.nanoTime() + waitMs * 1_000_000;
        long backoff = 500;
        int attempts = 0;
        while (true) {
            try {
                Connection c = postgres.connect(parts[0], info);
                if (attempts > 0) {
                    LOG.info("PostgreSQL reachable again after {} attempts", attempts);
                }
                return c;
            } catch (SQLException e) {
                attempts++;
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (!serverAway(e) || left <= 0) {
                    throw e;
                }
                if (attempts == 1 || attempts % 10 == 0) {
                    LOG.warn("PostgreSQL unreachable ({}: {}); retrying for up to {} s more",
                            e.getSQLState(), e.getMessage(), left / 1000);
                }
                try {
                    Thread.sleep(Math.min(backoff, left));
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    SQLException stop = new SQLException(
                            "interrupted while waiting for PostgreSQL", "08001", ie);
                    stop.addSuppressed(e);
                    throw stop;
                }
                backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
            }
        }
    }

    @Override
    public boolean acceptsURL(String url) throws SQLException {
        return url != null && postgres.acceptsURL(split(url)[0]);
    }

    @Override
    public DriverPropertyInfo[] getPropertyInfo(String url, Properties info) throws SQLException {
        return postgres.getPropertyInfo(split(url)[0], info);
    }

    @Override
    public int getMajorVersion() {
        return postgres.getMajorVersion();
    }

    @Override
    public int getMinorVersion() {
        return postgres.getMinorVersion();
    }

    @Override
    public boolean jdbcCompliant() {
        return postgres.jdbcCompliant();
    }

    @Override
    public java.util.logging.Logger getParentLogger() throws SQLFeatureNotSupportedException {
        return postgres.getParentLogger();
    }
}
