package io.ordersync.delivery;

import io.ordersync.db.Tx;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.Map;

/**
 * The Retry-After pauses of the instances on one database: table {@code provider_pause} has each instance's latest
 * pause of a provider (its end, and when its answer came), {@code provider_lift} the time of each provider's last manual
 * lift (all the database's time). A pause counts if its answer came after the last lift. {@link ProviderGate} writes
 * and reads them from the dispatcher's thread, never from a worker's.
 */
public final class PauseTable implements ProviderGate.Store {

    /** A pause that ended this long ago is deleted at the next write. */
    private static final Duration KEPT = Duration.ofDays(1);

    private final DataSource ds;
    private final String instanceId;

    public PauseTable(DataSource ds, String instanceId) {
        this.ds = ds;
        this.instanceId = instanceId;
    }

    @Override
    public void lift(String provider, Instant at) {
        Tx.runRetrying(ds, c -> {
            Instant last = lifted(c, provider, true);
            if (last == null) {
                // two instances inserting at once: one fails on the key, and runRetrying runs it again
                try (PreparedStatement ins = c.prepareStatement("INSERT INTO provider_lift (provider, lifted_at) VALUES (?, ?)")) {
                    ins.setString(1, provider);
                    ins.setObject(2, utc(at));
                    ins.executeUpdate();
                }
            } else if (last.isBefore(at)) {
                try (PreparedStatement up = c.prepareStatement("UPDATE provider_lift SET lifted_at = ? WHERE provider = ?")) {
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
            Instant lift = lifted(c, provider, false);
            if (lift != null && !p.at().isAfter(lift)) {
                return null; // an operator lifted the pause after this answer came
            }
            Instant[] mine = null;
            try (PreparedStatement ps = c.prepareStatement("SELECT paused_until, paused_at FROM provider_pause "
                    + "WHERE provider = ? AND instance_id = ? FOR UPDATE")) {
                ps.setString(1, provider);
                ps.setString(2, instanceId);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        mine = new Instant[]{instant(rs, 1), instant(rs, 2)};
                    }
                }
            }
            if (mine == null) {
                try (PreparedStatement ins = c.prepareStatement("INSERT INTO provider_pause (provider, instance_id, paused_until, "
                        + "paused_at) VALUES (?, ?, ?, ?)")) {
                    ins.setString(1, provider);
                    ins.setString(2, instanceId);
                    ins.setObject(3, utc(p.until()));
                    ins.setObject(4, utc(p.at()));
                    ins.executeUpdate();
                }
            } else if ((lift != null && !mine[1].isAfter(lift)) || mine[0].isBefore(p.until())) {
                // this instance's earlier pause was lifted, or ends sooner: this one replaces it
                try (PreparedStatement up = c.prepareStatement("UPDATE provider_pause SET paused_until = ?, paused_at = ? "
                        + "WHERE provider = ? AND instance_id = ?")) {
                    up.setObject(1, utc(p.until()));
                    up.setObject(2, utc(p.at()));
                    up.setString(3, provider);
                    up.setString(4, instanceId);
                    up.executeUpdate();
                }
            }
            try (PreparedStatement del = c.prepareStatement("DELETE FROM provider_pause WHERE paused_until < ?")) {
                del.setObject(1, utc(p.at().minus(KEPT)));
                del.executeUpdate();
            }
            return null;
        });
    }

    @Override
    public Map<String, ProviderGate.Pause> read() {
        return Tx.run(ds, c -> {
            Map<String, ProviderGate.Pause> out = new HashMap<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT p.provider, p.paused_until, p.paused_at, p.instance_id, "
                    + "l.lifted_at FROM provider_pause p LEFT JOIN provider_lift l ON l.provider = p.provider");
                 ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    Instant at = instant(rs, 3);
                    Instant lifted = instant(rs, 5);
                    if (lifted != null && !at.isAfter(lifted)) {
                        continue;
                    }
                    ProviderGate.Pause p = new ProviderGate.Pause(instant(rs, 2), at, rs.getString(4));
                    // the latest end among the instances' pauses that count
                    out.merge(rs.getString(1), p, (a, b) -> a.until().isAfter(b.until()) ? a : b);
                }
            }
            return out;
        });
    }

    private static Instant lifted(Connection c, String provider, boolean forUpdate) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT lifted_at FROM provider_lift WHERE provider = ?"
                + (forUpdate ? " FOR UPDATE" : ""))) {
            ps.setString(1, provider);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? instant(rs, 1) : null;
            }
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
