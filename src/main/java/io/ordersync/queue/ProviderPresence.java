package io.ordersync.queue;

import io.ordersync.db.Tx;

import javax.sql.DataSource;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Collection;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Which providers the instances on one database run (table {@code provider_presence}). Each instance says, every
 * few seconds, which providers it runs and until when that holds; a graceful stop withdraws it at once, a crashed
 * instance's entries run out after {@code ttl}. The dispatcher asks it before it drops or parks the rows of a
 * provider it cannot run itself: those rows belong to another instance as long as one runs their provider.
 */
public final class ProviderPresence {

    private final DataSource ds;
    private final String instanceId;
    private final Duration ttl;

    public ProviderPresence(DataSource ds, String instanceId, Duration ttl) {
        this.ds = ds;
        this.instanceId = instanceId;
        this.ttl = ttl;
    }

    /** How long an instance's word holds; it refreshes it at a third of this. */
    public Duration ttl() {
        return ttl;
    }

    /** Replaces this instance's entries with {@code providers}, each good until {@code now + ttl}. */
    public void announce(Collection<String> providers, Instant now) {
        Map<String, String> none = new LinkedHashMap<>();
        providers.forEach(p -> none.put(p, null));
        announce(none, now);
    }

    /**
     * Replaces this instance's entries with the providers of {@code subscriptions} (name → what it is queued for,
     * as {@link io.ordersync.mapping.Subscription#announce} writes it), each good until {@code now + ttl}.
     */
    public void announce(Map<String, String> subscriptions, Instant now) {
        Tx.run(ds, c -> {
            // this instance's entries, and those of instances gone for good (a new id at each start)
            try (PreparedStatement del = c.prepareStatement(
                    "DELETE FROM provider_presence WHERE instance_id = ? OR seen_until < ?")) {
                del.setString(1, instanceId);
                del.setObject(2, now.minus(ttl).atOffset(ZoneOffset.UTC));
                del.executeUpdate();
            }
            if (!subscriptions.isEmpty()) {
                try (PreparedStatement ins = c.prepareStatement(
                        "INSERT INTO provider_presence (instance_id, provider, seen_until, subscription) VALUES (?, ?, ?, ?)")) {
                    for (Map.Entry<String, String> p : subscriptions.entrySet()) {
                        ins.setString(1, instanceId);
                        ins.setString(2, p.getKey());
                        ins.setObject(3, now.plus(ttl).atOffset(ZoneOffset.UTC));
                        ins.setString(4, p.getValue());
                        ins.addBatch();
                    }
                    ins.executeBatch();
                }
            }
            return null;
        });
    }

    /** One live entry of another instance: a provider it runs, what for (null from earlier versions), until when. */
    public record Entry(String instanceId, String provider, String subscription, Instant until) {
    }

    /** The live entries of the other instances. */
    public List<Entry> others(Instant now) {
        return Tx.run(ds, c -> {
            List<Entry> out = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT instance_id, provider, subscription, seen_until"
                    + " FROM provider_presence WHERE instance_id <> ? AND seen_until > ?")) {
                ps.setString(1, instanceId);
                ps.setObject(2, now.atOffset(ZoneOffset.UTC));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(new Entry(rs.getString(1), rs.getString(2), rs.getString(3),
                                rs.getObject(4, java.time.OffsetDateTime.class).toInstant()));
                    }
                }
            }
            return out;
        });
    }

    /** The providers some other live instance runs. */
    public Set<String> runElsewhere(Instant now) {
        return Tx.run(ds, c -> {
            Set<String> out = new HashSet<>();
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT DISTINCT provider FROM provider_presence WHERE instance_id <> ? AND seen_until > ?")) {
                ps.setString(1, instanceId);
                ps.setObject(2, now.atOffset(ZoneOffset.UTC));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(rs.getString(1));
                    }
                }
            }
            return out;
        });
    }

    /** This instance stops: its entries go at once, so the others need not wait for them to run out. */
    public void withdraw() {
        announce(Map.of(), Instant.now());
    }
}
