package io.ordersync.admin;

import io.ordersync.db.Tx;

import javax.sql.DataSource;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * The failed logins of all instances on one database (table {@code login_failure}): a count per key (a hash, see
 * {@link LoginThrottle}) and the database's time of its last failure. Rows a day without a failure are deleted.
 */
final class LoginFailureTable implements LoginThrottle.Shared {

    private static final Duration FORGOTTEN_AFTER = Duration.ofDays(1);
    private static final Duration OVERLAP = Duration.ofSeconds(2);

    private final DataSource ds;
    /** Monotonic time of the last successful {@link #changed}. */
    private long lastRead;
    private boolean readOnce;
    private long nextCleanup = System.nanoTime();

    LoginFailureTable(DataSource ds) {
        this.ds = ds;
    }

    @Override
    public Map<String, Integer> failed(Map<String, Integer> keys) {
        return Tx.runRetrying(ds, false, c -> {
            Map<String, Integer> out = new HashMap<>();
            for (Map.Entry<String, Integer> key : keys.entrySet()) {
                int updated;
                try (PreparedStatement up = c.prepareStatement("UPDATE login_failure SET failures = failures + ?, "
                        + "last_failure_at = CURRENT_TIMESTAMP WHERE key_hash = ?")) {
                    up.setInt(1, key.getValue());
                    up.setString(2, key.getKey());
                    updated = up.executeUpdate();
                }
                if (updated == 0) {
                    // two instances counting a new key at once: one fails on the key, and runRetrying runs it again
                    try (PreparedStatement ins = c.prepareStatement("INSERT INTO login_failure (key_hash, failures, "
                            + "last_failure_at) VALUES (?, ?, CURRENT_TIMESTAMP)")) {
                        ins.setString(1, key.getKey());
                        ins.setInt(2, key.getValue());
                        ins.executeUpdate();
                    }
                }
                try (PreparedStatement ps = c.prepareStatement("SELECT failures FROM login_failure WHERE key_hash = ?")) {
                    ps.setString(1, key.getKey());
                    try (ResultSet rs = ps.executeQuery()) {
                        if (rs.next()) {
                            out.put(key.getKey(), rs.getInt(1));
                        }
                    }
                }
            }
            return out;
        });
    }

    @Override
    public void cleared(Set<String> keys) {
        Tx.run(ds, c -> {
            try (PreparedStatement del = c.prepareStatement("DELETE FROM login_failure WHERE key_hash = ?")) {
                for (String key : keys) {
                    del.setString(1, key);
                    del.addBatch();
                }
                del.executeBatch();
            }
            return null;
        });
    }

    @Override
    public synchronized Map<String, LoginThrottle.Count> changed(Duration longestLock) {
        long mono = System.nanoTime();
        // the rows changed since the last read (and a margin for commits that took their time), or at the first read
        // all that can still hold a lock
        Duration window = !readOnce ? longestLock.plus(OVERLAP)
                : Duration.ofNanos(Math.min(mono - lastRead, longestLock.toNanos())).plus(OVERLAP);
        Map<String, LoginThrottle.Count> out = Tx.run(ds, c -> {
            OffsetDateTime now = io.ordersync.db.DatabaseClock.now(c);
            Map<String, LoginThrottle.Count> rows = new HashMap<>();
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT key_hash, failures, last_failure_at FROM login_failure WHERE last_failure_at > ?")) {
                ps.setObject(1, now.minus(window));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        Duration ago = Duration.between(rs.getObject(3, OffsetDateTime.class), now);
                        rows.put(rs.getString(1), new LoginThrottle.Count(rs.getInt(2), ago.isNegative() ? Duration.ZERO : ago));
                    }
                }
            }
            if (mono - nextCleanup >= 0) {
                // a key that never got locked is forgotten after the longest lock (a spray of addresses does not pile
                // up), one that did after a day
                try (PreparedStatement del = c.prepareStatement("DELETE FROM login_failure WHERE last_failure_at < ? "
                        + "OR (failures < ? AND last_failure_at < ?)")) {
                    del.setObject(1, now.minus(FORGOTTEN_AFTER));
                    del.setInt(2, LoginThrottle.FREE_FAILURES);
                    del.setObject(3, now.minus(longestLock));
                    del.executeUpdate();
                }
            }
            return rows;
        });
        if (mono - nextCleanup >= 0) {
            nextCleanup = mono + Duration.ofMinutes(1).toNanos();
        }
        lastRead = mono;
        readOnce = true;
        return out;
    }
}
