package io.ordersync.delivery;

import io.ordersync.db.Tx;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.Map;

/**
 * The Retry-After pauses of the instances on one database (table {@code provider_pause}, one row per provider): the
 * end of the pause, the time its answer came, the time of the last manual lift (all the database's time), and the
 * instance whose target answered. {@link ProviderGate} writes and reads it from the dispatcher's thread, never from a
 * worker's.
 */
public final class PauseTable implements ProviderGate.Store {

    private final DataSource ds;
    private final String instanceId;

    public PauseTable(DataSource ds, String instanceId) {
        this.ds = ds;
        this.instanceId = instanceId;
    }

    @Override
    public void lift(String provider, Instant at) {
        Tx.runRetrying(ds, c -> {
            Row row = lock(c, provider);
            if (row == null) {
                // two instances inserting at once: one fails on the key, and runRetrying runs it again
                insert(c, provider, at, at, at);
            } else if (row.liftedAt() == null || row.liftedAt().isBefore(at)) {
                try (PreparedStatement up = c.prepareStatement("UPDATE provider_pause SET lifted_at = ? WHERE provider = ?")) {
                    up.setObject(1, utc(at));
                    up.setString(2, provider);
                    up.executeUpdate();
                }
            }
            return null;
        });
    }

    @Override
    public void pause(String provider, ProviderGate.Pause p) {
        Tx.runRetrying(ds, c -> {
            Row row = lock(c, provider);
            if (row == null) {
                insert(c, provider, p.until(), p.at(), null);
                return null;
            }
            if (row.liftedAt() != null && !p.at().isAfter(row.liftedAt())) {
                return null; // an operator lifted the pause after this answer came
            }
            boolean holds = row.liftedAt() == null || row.pausedAt().isAfter(row.liftedAt());
            if (holds && !row.until().isBefore(p.until())) {
                return null; // a pause that ends later holds already
            }
            try (PreparedStatement up = c.prepareStatement("UPDATE provider_pause SET paused_until = ?, paused_at = ?, "
                    + "instance_id = ? WHERE provider = ?")) {
                up.setObject(1, utc(p.until()));
                up.setObject(2, utc(p.at()));
                up.setString(3, instanceId);
                up.setString(4, provider);
                up.executeUpdate();
            }
            return null;
        });
    }

    @Override
    public Map<String, ProviderGate.Pause> read() {
        return Tx.run(ds, c -> {
            Map<String, ProviderGate.Pause> out = new HashMap<>();
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT provider, paused_until, paused_at, lifted_at, instance_id FROM provider_pause");
                 ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    Instant at = instant(rs, 3);
                    Instant lifted = instant(rs, 4);
                    if (lifted == null || at.isAfter(lifted)) {
                        out.put(rs.getString(1), new ProviderGate.Pause(instant(rs, 2), at, rs.getString(5)));
                    }
                }
            }
            return out;
        });
    }

    private record Row(Instant until, Instant pausedAt, Instant liftedAt) {
    }

    private static Row lock(Connection c, String provider) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT paused_until, paused_at, lifted_at FROM provider_pause WHERE provider = ? FOR UPDATE")) {
            ps.setString(1, provider);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? new Row(instant(rs, 1), instant(rs, 2), instant(rs, 3)) : null;
            }
        }
    }

    private void insert(Connection c, String provider, Instant until, Instant at, Instant lifted) throws SQLException {
        try (PreparedStatement ins = c.prepareStatement("INSERT INTO provider_pause (provider, paused_until, paused_at, "
                + "lifted_at, instance_id) VALUES (?, ?, ?, ?, ?)")) {
            ins.setString(1, provider);
            ins.setObject(2, utc(until));
            ins.setObject(3, utc(at));
            if (lifted == null) {
                ins.setNull(4, java.sql.Types.TIMESTAMP_WITH_TIMEZONE);
            } else {
                ins.setObject(4, utc(lifted));
            }
            ins.setString(5, instanceId);
            ins.executeUpdate();
        }
    }

    private static Instant instant(ResultSet rs, int column) throws SQLException {
        OffsetDateTime t = rs.getObject(column, OffsetDateTime.class);
        return t == null ? null : t.toInstant();
    }

    private static OffsetDateTime utc(Instant t) {
        return t.atOffset(ZoneOffset.UTC);
    }
}
