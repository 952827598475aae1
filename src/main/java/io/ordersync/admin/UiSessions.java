package io.ordersync.admin;

import io.ordersync.db.Tx;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import javax.sql.DataSource;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.HexFormat;

/**
 * UI sessions, kept in the database (table {@code ui_session}) so that every instance on it knows them: a login on
 * one instance is good on the others, a logout on one ends the session everywhere, a restart keeps it.
 * <p>
 * A session's cookie is {@code <id>.<mac>}: 24 random bytes and an HMAC-SHA256 over them, both in hex. The table holds
 * only the SHA-256 of the id, so its rows give no cookie that works. The MAC's key is derived from the admin
 * credentials and a random secret the instances share through the database (table {@code shared_secret}), and it
 * lives only in memory: a session ends when the credentials change, a row written into the table by someone who can
 * write to the database is no login, and a cookie whose MAC does not hold is refused without asking the database.
 * Times are the queue's clock (the database's), so instances whose clocks differ agree on when a session ends.
 */
public final class UiSessions {

    /** How long a session lasts from its login. */
    public static final Duration TTL = Duration.ofHours(12);
    private static final int ID_BYTES = 24;
    private static final int ID_HEX = ID_BYTES * 2;
    private static final int MAC_HEX = 64;
    /** Length of a cookie value: id, dot, MAC. */
    static final int COOKIE_LENGTH = ID_HEX + 1 + MAC_HEX;
    private static final String SECRET_NAME = "ui-session";
    private static final HexFormat HEX = HexFormat.of();

    /** The database could not be asked: the caller answers 503, not 401 (the session may be good). */
    public static final class Unavailable extends RuntimeException {
        Unavailable(Throwable cause) {
            super("the database could not be asked for the session: " + cause.getMessage(), cause);
        }
    }

    private final DataSource ds;
    private final Clock clock;
    /** What the key is derived from, besides the shared secret: the admin credentials, as configured. */
    private final byte[] credentials;
    private final SecureRandom random = new SecureRandom();
    private volatile byte[] key;

    /** {@code token}, {@code username}, {@code password}: the admin credentials as configured (null when not). */
    public UiSessions(DataSource ds, Clock clock, String token, String username, String password) {
        this.ds = ds;
        this.clock = clock;
        StringBuilder material = new StringBuilder("ordersync ui session v1");
        for (String part : new String[]{token, username, password}) {
            // length-prefixed, so no two different sets of credentials give the same material
            material.append('\0').append(part == null ? -1 : part.length()).append(':').append(part == null ? "" : part);
        }
        this.credentials = material.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** Starts a session for {@code actor} (who is logged in, as records name them); returns its cookie value. */
    public String create(String actor) {
        byte[] id = new byte[ID_BYTES];
        random.nextBytes(id);
        String idHex = HEX.formatHex(id);
        String mac = mac(idHex);
        Instant now = clock.instant();
        try {
            // durable: a session answered with 200 survives a crash of the process right after
            Tx.runDurable(ds, c -> {
                try (PreparedStatement gone = c.prepareStatement("DELETE FROM ui_session WHERE expires_at <= ?")) {
                    gone.setObject(1, OffsetDateTime.ofInstant(now, ZoneOffset.UTC));
                    gone.executeUpdate();
                }
                try (PreparedStatement ins = c.prepareStatement(
                        "INSERT INTO ui_session (id_hash, actor, created_at, expires_at) VALUES (?, ?, ?, ?)")) {
                    ins.setString(1, hash(idHex));
                    ins.setString(2, actor.length() > 200 ? actor.substring(0, 200) : actor);
                    ins.setObject(3, OffsetDateTime.ofInstant(now, ZoneOffset.UTC));
                    ins.setObject(4, OffsetDateTime.ofInstant(now.plus(TTL), ZoneOffset.UTC));
                    ins.executeUpdate();
                }
                return null;
            });
        } catch (RuntimeException e) {
            throw new Unavailable(e);
        }
        return idHex + "." + mac;
    }

    /** Who the session of this cookie value is for, or null when it is no live session. */
    public String actor(String cookie) {
        String idHex = verified(cookie);
        if (idHex == null) {
            return null;
        }
        Instant now = clock.instant();
        try {
            return Tx.run(ds, c -> {
                try (PreparedStatement q = c.prepareStatement("SELECT actor, expires_at FROM ui_session WHERE id_hash = ?")) {
                    q.setString(1, hash(idHex));
                    try (ResultSet rs = q.executeQuery()) {
                        if (!rs.next()) {
                            return null;
                        }
                        if (rs.getObject(2, OffsetDateTime.class).toInstant().isAfter(now)) {
                            return rs.getString(1);
                        }
                    }
                }
                delete(c, idHex);
                return null;
            });
        } catch (RuntimeException e) {
            throw new Unavailable(e);
        }
    }

    /** Ends the session of this cookie value on every instance (nothing when it is none). */
    public void end(String cookie) {
        String idHex = verified(cookie);
        if (idHex == null) {
            return;
        }
        try {
            // durable: a logout that a crash undid would bring the session back
            Tx.runDurable(ds, c -> {
                delete(c, idHex);
                return null;
            });
        } catch (RuntimeException e) {
            throw new Unavailable(e);
        }
    }

    private static void delete(Connection c, String idHex) throws SQLException {
        try (PreparedStatement del = c.prepareStatement("DELETE FROM ui_session WHERE id_hash = ?")) {
            del.setString(1, hash(idHex));
            del.executeUpdate();
        }
    }

    /** The id of a well-formed cookie value whose MAC holds, or null. */
    private String verified(String cookie) {
        if (cookie == null || cookie.length() != COOKIE_LENGTH || cookie.charAt(ID_HEX) != '.') {
            return null;
        }
        for (int i = 0; i < COOKIE_LENGTH; i++) {
            char ch = cookie.charAt(i);
            if (i != ID_HEX && !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
                return null;
            }
        }
        String idHex = cookie.substring(0, ID_HEX);
        byte[] given = cookie.substring(ID_HEX + 1).getBytes(StandardCharsets.US_ASCII);
        return MessageDigest.isEqual(given, mac(idHex).getBytes(StandardCharsets.US_ASCII)) ? idHex : null;
    }

    private String mac(String idHex) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key(), "HmacSHA256"));
            return HEX.formatHex(mac.doFinal(idHex.getBytes(StandardCharsets.US_ASCII)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    /** The MAC key: HMAC-SHA256 of the credentials with the shared secret (read, or created, at first use). */
    private byte[] key() {
        byte[] k = key;
        if (k != null) {
            return k;
        }
        synchronized (this) {
            if (key == null) {
                try {
                    Mac mac = Mac.getInstance("HmacSHA256");
                    mac.init(new SecretKeySpec(HEX.parseHex(sharedSecret()), "HmacSHA256"));
                    key = mac.doFinal(credentials);
                } catch (GeneralSecurityException e) {
                    throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
                } catch (RuntimeException e) {
                    throw new Unavailable(e);
                }
            }
            return key;
        }
    }

    /** The secret of all instances on this database; the first to ask creates it (a second that races it reads it). */
    private String sharedSecret() {
        String found = readSecret();
        if (found != null) {
            return found;
        }
        byte[] fresh = new byte[32];
        random.nextBytes(fresh);
        try {
            Tx.runDurable(ds, c -> {
                try (PreparedStatement ins = c.prepareStatement(
                        "INSERT INTO shared_secret (name, secret, created_at) VALUES (?, ?, ?)")) {
                    ins.setString(1, SECRET_NAME);
                    ins.setString(2, HEX.formatHex(fresh));
                    ins.setObject(3, OffsetDateTime.ofInstant(clock.instant(), ZoneOffset.UTC));
                    ins.executeUpdate();
                }
                return null;
            });
        } catch (RuntimeException raced) {
            // another instance created it first (a duplicate key): read that one below
        }
        found = readSecret();
        if (found == null) {
            throw new IllegalStateException("the shared secret '" + SECRET_NAME + "' could neither be read nor created");
        }
        return found;
    }

    private String readSecret() {
        return Tx.run(ds, c -> {
            try (PreparedStatement q = c.prepareStatement("SELECT secret FROM shared_secret WHERE name = ?")) {
                q.setString(1, SECRET_NAME);
                try (ResultSet rs = q.executeQuery()) {
                    return rs.next() ? rs.getString(1) : null;
                }
            }
        });
    }

    /** What {@code ui_session.id_hash} holds for a session id: its SHA-256, in hex. */
    public static String hash(String idHex) {
        try {
            return HEX.formatHex(MessageDigest.getInstance("SHA-256").digest(idHex.getBytes(StandardCharsets.US_ASCII)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }
}
