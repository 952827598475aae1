package io.ordersync.delivery;

import io.ordersync.db.Tx;

import javax.sql.DataSource;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.Map;

/**
 * The Retry-After pauses of the instances on one database (table {@code provider_pause}, one row per provider): the
 * end of each pause in the database's time, and the instance whose target answered with it. {@link ProviderGate}
 * writes and reads it from the dispatcher's thread, never from a worker's.
 */
public final class PauseTable implements ProviderGate.Store {

    private final DataSource ds;
    private final String instanceId;

    public PauseTable(DataSource ds, String instanceId) {
        this.ds = ds;
        this.instanceId = instanceId;
    }

    @Override
    public void write(Map<String, Instant> pauses, java.util.Set<String> lifts) {
        Tx.runRetrying(ds, c -> {
            if (!lifts.isEmpty()) {
                try (PreparedStatement del = c.prepareStatement("DELETE FROM provider_pause WHERE provider = ?")) {
                    for (String p : lifts) {
                        del.setString(1, p);
                        del.addBatch();
                    }
                    del.executeBatch();
                }
            }
            for (Map.Entry<String, Instant> e : pauses.entrySet()) {
                OffsetDateTime until = e.getValue().atOffset(ZoneOffset.UTC);
                // the later end wins: an earlier one written by another instance is replaced, a later one kept
                try (PreparedStatement up = c.prepareStatement("UPDATE provider_pause SET paused_until = ?, instance_id = ? "
                        + "WHERE provider = ? AND paused_until < ?")) {
                    up.setObject(1, until);
                    up.setString(2, instanceId);
                    up.setString(3, e.getKey());
                    up.setObject(4, until);
                    if (up.executeUpdate() == 1) {
                        continue;
                    }
                }
                boolean exists;
                try (PreparedStatement sel = c.prepareStatement("SELECT 1 FROM provider_pause WHERE provider = ?")) {
                    sel.setString(1, e.getKey());
                    try (ResultSet rs = sel.executeQuery()) {
                        exists = rs.next();
                    }
                }
                if (!exists) {
                    // two instances inserting at once: one fails on the key, and runRetrying tries its whole write again
                    try (PreparedStatement ins = c.prepareStatement(
                            "INSERT INTO provider_pause (provider, paused_until, instance_id) VALUES (?, ?, ?)")) {
                        ins.setString(1, e.getKey());
                        ins.setObject(2, until);
                        ins.setString(3, instanceId);
                        ins.executeUpdate();
                    }
                }
            }
            return null;
        });
    }

    @Override
    public Map<String, ProviderGate.Pause> read() {
        return Tx.run(ds, c -> {
            Map<String, ProviderGate.Pause> out = new HashMap<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT provider, paused_until, instance_id FROM provider_pause");
                 ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.put(rs.getString(1), new ProviderGate.Pause(rs.getObject(2, OffsetDateTime.class).toInstant(),
                            rs.getString(3)));
                }
            }
            return out;
        });
    }
}
