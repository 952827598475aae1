package io.ordersync.queue;

import io.ordersync.db.Tx;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Which providers the instances on one database run (table {@code provider_presence}), and what for. Each instance
 * says, every few seconds, which providers it runs and until when that holds; a graceful stop withdraws it at once,
 * a crashed instance's entries run out after {@code ttl}. The dispatcher asks it before it drops or parks the rows
 * of a provider it cannot run itself (those rows belong to another instance as long as one runs their provider),
 * and intake queues for such a provider as its entry says. Every time here is the database's clock, so instances
 * whose clocks differ still agree on whose entries are live.
 * <p>
 * Each process's entries carry its incarnation (random, new at each start) beside the instance id, so two processes
 * started with one id keep their entries apart and each sees the other's; the first announce after the other one
 * refreshed its entries says so in the log, once per such process.
 */
public final class ProviderPresence {

    private final DataSource ds;
    private final String instanceId;
    private final Duration ttl;
    private final java.time.Clock clock;
    /** This process's incarnation: its entries are those with this instance id and this incarnation. */
    private final String incarnation = java.util.UUID.randomUUID().toString();
    /** The database's time of this process's first announce (null before it). */
    private volatile OffsetDateTime firstAnnounce;
    /** An announce of this process was tried: it may have entries to withdraw (a commit may go through unconfirmed). */
    private volatile boolean attempted;
    /** An announce of this process committed. */
    private volatile boolean announced;
    /** Incarnations of other live processes with this instance id, as the last announce found them. */
    private volatile Set<String> sharing = Set.of();
    /** Those already warned about. */
    private final Set<String> warned = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ProviderPresence.class);

    public ProviderPresence(DataSource ds, String instanceId, Duration ttl) {
        this(ds, instanceId, ttl, java.time.Clock.systemUTC());
    }

    /** {@code clock}: this instance's, only to say until when an entry holds in its own time ({@link Entry#until}). */
    public ProviderPresence(DataSource ds, String instanceId, Duration ttl, java.time.Clock clock) {
        this.ds = ds;
        this.instanceId = instanceId;
        this.ttl = ttl;
        this.clock = clock;
    }

    /** How long an instance's word holds; it refreshes it at a third of this. */
    public Duration ttl() {
        return ttl;
    }

    /**
     * Replaces this instance's entries with the providers of {@code subscriptions} (name → what it is queued for,
     * as {@link io.ordersync.mapping.Subscription#announce} writes it, or null), each good for {@code ttl} from the
     * database's now.
     */
    public void announce(Map<String, String> subscriptions) {
        attempted = true;
        Set<String> found = Tx.run(ds, c -> {
            OffsetDateTime now = io.ordersync.db.DatabaseClock.now(c);
            if (firstAnnounce == null) {
                firstAnnounce = now;
            }
            Set<String> others = sharedWith(c);
            // this process's entries, and those of instances gone for good (a new id at each start)
            try (PreparedStatement del = c.prepareStatement(
                    "DELETE FROM provider_presence WHERE (instance_id = ? AND incarnation = ?) OR seen_until < ?")) {
                del.setString(1, instanceId);
                del.setString(2, incarnation);
                del.setObject(3, now.minus(ttl));
                del.executeUpdate();
            }
            if (!subscriptions.isEmpty()) {
                try (PreparedStatement ins = c.prepareStatement("INSERT INTO provider_presence "
                        + "(instance_id, incarnation, provider, seen_until, subscription) VALUES (?, ?, ?, ?, ?)")) {
                    for (Map.Entry<String, String> p : subscriptions.entrySet()) {
                        ins.setString(1, instanceId);
                        ins.setString(2, incarnation);
                        ins.setString(3, p.getKey());
                        ins.setObject(4, now.plus(ttl));
                        ins.setString(5, p.getValue());
                        ins.addBatch();
                    }
                    ins.executeBatch();
                }
            }
            return others;
        });
        announced = true;
        sharing = found;
        for (String other : found) {
            if (warned.add(other)) {
                LOG.warn("Another running process uses this instance's id '{}'. Both run, each with its own entries, but "
                        + "their claims and log lines carry the same name: give each instance its own ordersync.instance-id, "
                        + "or leave it empty for a random one", instanceId);
            }
        }
    }

    /**
     * The incarnations of other processes with this instance id whose entries were refreshed after this process's first
     * announce: live ones (the entries of a predecessor that crashed were last refreshed before it).
     */
    private Set<String> sharedWith(Connection c) throws SQLException {
        Set<String> out = new HashSet<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT DISTINCT incarnation FROM provider_presence "
                + "WHERE instance_id = ? AND incarnation <> ? AND seen_until > ?")) {
            ps.setString(1, instanceId);
            ps.setString(2, incarnation);
            ps.setObject(3, firstAnnounce.plus(ttl));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
            }
        }
        return out;
    }

    /**
     * How many other live processes use this instance id and run providers, as the last announce found them (their
     * entries refreshed since this process started).
     */
    public int sharing() {
        return sharing.size();
    }

    /**
     * One live entry of another instance: a provider it runs, what for (null from earlier versions), and until when
     * by this instance's clock (the entry's time left by the database's clock, from this instance's now).
     */
    public record Entry(String instanceId, String provider, String subscription, Instant until, String incarnation) {
    }

    /** The live entries of the other instances (other processes with this instance id among them). */
    public List<Entry> others() {
        Instant here = clock.instant();
        return Tx.run(ds, c -> {
            OffsetDateTime now = io.ordersync.db.DatabaseClock.now(c);
            List<Entry> out = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT instance_id, provider, subscription, seen_until, incarnation"
                    + " FROM provider_presence WHERE NOT (instance_id = ? AND incarnation = ?) AND seen_until > ?")) {
                ps.setString(1, instanceId);
                ps.setString(2, incarnation);
                ps.setObject(3, now);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        Duration left = Duration.between(now, rs.getObject(4, OffsetDateTime.class));
                        out.add(new Entry(rs.getString(1), rs.getString(2), rs.getString(3), here.plus(left), rs.getString(5)));
                    }
                }
            }
            return out;
        });
    }

    /** The providers some other live instance runs. */
    public Set<String> runElsewhere() {
        Set<String> out = new HashSet<>();
        others().forEach(e -> out.add(e.provider()));
        return out;
    }

    /**
     * This instance stops: its entries go at once, so the others need not wait for them to run out. Nothing to do for a
     * process that never tried to announce; one whose every announce failed (a start refused by a database that takes
     * no writes) tries all the same, as a commit may have gone through unconfirmed, and its failure is no news (it
     * was a WARN after the start's one line saying why).
     */
    public void withdraw() {
        if (!attempted) {
            return;
        }
        try {
            announce(Map.of());
        } catch (RuntimeException e) {
            if (announced) {
                throw e;
            }
            LOG.debug("No announce of this process was confirmed, "
                    + "and the withdrawal failed too: {}", e.getMessage());
        }
    }
}
