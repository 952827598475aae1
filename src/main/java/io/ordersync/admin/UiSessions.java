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
 * only the SHA-256 of the id, so its rows give no cookie that works. The MAC's key is derived (PBKDF2, {@value
 * #KDF_ITERATIONS} rounds, once per process) from the admin credentials with a random secret the instances share
 * through the database as salt (table {@code shared_secret}), and it lives only in memory: a session ends when the
 * credentials change, a row written into the table by someone who can write to the database is no login, a cookie
 * whose MAC does not hold is refused without asking the database, and a database copy with one old cookie costs a
 * guesser a PBKDF2 derivation per guess of the credentials. The secret is read again every {@link #SECRET_CHECK}: a
 * row deleted is written back, a changed one (a rotation) is taken up by every instance, a malformed one replaced.
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
    /** PBKDF2-HMAC-SHA256 rounds of the key (OWASP's figure for it, 2023): a fifth of a second, once per process. */
    static final int KDF_ITERATIONS = 600_000;
    /** How often the shared secret is read again (on use; never more often). */
    static final Duration SECRET_CHECK = Duration.ofSeconds(10);
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(UiSessions.class);

    /** The database could not be asked: the caller answers 503, not 401 (the session may be good). */
    public static final class Unavailable extends RuntimeException {
        Unavailable(Throwable cause) {
            super("the database could not be asked for the session: " + cause.getMessage(), cause);
        }
    }

    private final DataSource ds;
    private final Clock clock;
    /** What the key is derived from, besides the shared secret: the admin credentials, as configured. */
    private final char[] credentials;
    private final SecureRandom random = new SecureRandom();

    /** The shared secret as last read, and the key derived with it. */
    private record Keyed(String secret, byte[] key) {
    }

    private volatile Keyed keyed;
    private volatile long checkedAt;

    /** {@code token}, {@code username}, {@code password}: the admin credentials as configured (null when not). */
    public UiSessions(DataSource ds, Clock clock, String token, String username, String password) {
        this.ds = ds;
        this.clock = clock;
        StringBuilder material = new StringBuilder("ordersync ui session v1");
        for (String part : new String[]{token, username, password}) {
            // length-prefixed, so no two different sets of credentials give the same material
            material.append('\0').append(part == null ? -1 : part.length()).append(':').append(part == null ? "" : part);
        }
        this.credentials = material.toString().toCharArray();
    }

    /** Starts a session for {@code actor} (who is logged in, as records name them); returns its cookie value. */
    public String create(String actor) {
        byte[] id = new byte[ID_BYTES];
        random.nextBytes(id);
        String idHex = HEX.formatHex(id);
        // a login reads the secret anew: a session is never made with a secret another instance has replaced
        String mac = mac(key(Duration.ZERO), idHex);
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
        } catch (Tx.TxException e) {
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
        } catch (Tx.TxException e) {
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
        } catch (Tx.TxException e) {
            throw new Unavailable(e);
        }
    }

    /**
     * A signature of {@code data} with this key (another purpose than a session's MAC): what the instances on the
     * database sign and check when only holders of the admin credentials may have written a row (the editor's saves
     * that other instances apply).
     */
    public String sign(String purpose, String data) {
        return sign(key(SECRET_CHECK), purpose, data);
    }

    /** Whether {@code signature} is {@link #sign}'s for this data (the secret read again once when it is not). */
    public boolean signed(String purpose, String data, String signature) {
        if (signature == null) {
            return false;
        }
        return holds(signature, key -> sign(key, purpose, data));
    }

    /**
     * Whether {@code given} is what {@code expected} computes with the key; when it is not, the shared secret is read
     * again (at most once a second) and, if another instance changed it since (written anew after a delete), checked
     * with the new key, so the instances agree again at the first value that tells them apart.
     */
    private boolean holds(String given, java.util.function.Function<byte[], String> expected) {
        byte[] bytes = given.getBytes(StandardCharsets.US_ASCII);
        byte[] key = key(SECRET_CHECK);
        if (MessageDigest.isEqual(bytes, expected.apply(key).getBytes(StandardCharsets.US_ASCII))) {
            return true;
        }
        byte[] now = key(Duration.ofSeconds(1));
        return now != key && MessageDigest.isEqual(bytes, expected.apply(now).getBytes(StandardCharsets.US_ASCII));
    }

    private static String sign(byte[] key, String purpose, String data) {
        // a purpose and a NUL before the data: never the input of a session's MAC (48 hex digits)
        return mac(key, purpose + "\0" + data);
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
        return holds(cookie.substring(ID_HEX + 1), key -> mac(key, idHex)) ? idHex : null;
    }

    private static String mac(byte[] key, String data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return HEX.formatHex(mac.doFinal(data.getBytes(StandardCharsets.UTF_8)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    /**
     * The MAC key, derived with the shared secret as it was read last; the secret is read again when that is
     * {@code maxAge} ago ({@link #SECRET_CHECK}; a login, and a MAC that does not hold, ask for fresher). A failed read
     * keeps the key (and is tried again after as long); without a key yet, it is {@link Unavailable}. This process's
     * first key is used only once its credentials are checked ({@link #checkCredentials}).
     */
    private byte[] key(Duration maxAge) {
        Keyed k = keyed;
        if (k != null && System.nanoTime() - checkedAt < maxAge.toNanos()) {
            return k.key();
        }
        synchronized (this) {
            k = keyed;
            if (k != null && System.nanoTime() - checkedAt < maxAge.toNanos()) {
                return k.key();
            }
            if (k == null && unchecked != null && System.nanoTime() - uncheckedAt < RECHECK.toNanos()) {
                // the check failed a moment ago: answered at once, not with another derivation per request
                throw new Unavailable(new IllegalStateException("the admin credentials could not be checked against the database"));
            }
            String secret;
            try {
                secret = sharedSecret(k == null ? null : k.secret());
            } catch (Tx.TxException e) {
                if (k == null) {
                    throw new Unavailable(e);
                }
                checkedAt = System.nanoTime();
                return k.key();
            }
            if (k == null || !k.secret().equals(secret)) {
                if (k != null) {
                    LOG.warn("The UI sessions' shared secret (table shared_secret) changed: sessions made before the change end");
                }
                boolean first = k == null;
                Keyed fresh = unchecked != null && unchecked.secret().equals(secret) ? unchecked : new Keyed(secret, derive(secret));
                try {
                    fresh = checkCredentials(fresh, first);
                    unchecked = null;
                } catch (Tx.TxException e) {
                    if (first) {
                        // no key is used before its credentials are checked: else sessions of credentials set back
                        // to earlier ones would be good again
                        unchecked = fresh;
                        uncheckedAt = System.nanoTime();
                        throw new Unavailable(e);
                    }
                }
                k = fresh;
                keyed = k;
            } else if (fingerprintUnwritten) {
                try {
                    checkCredentials(k, false);
                } catch (Tx.TxException e) {
                    // tried again at the next check
                }
            }
            checkedAt = System.nanoTime();
            return k.key();
        }
    }

    /**
     * Checks this process's credentials now, as the first use of the key would: called once at the start, so that
     * credentials set back to earlier ones end the sessions of their earlier use even when nothing else needs the key
     * before the next change. Without a live session there is nothing to end, and the derivation is left to the first
     * use. A failure is left to the first use too.
     */
    public void checkCredentials() {
        try {
            boolean anyLive = Tx.run(ds, c -> {
                try (PreparedStatement q = c.prepareStatement("SELECT 1 FROM ui_session WHERE expires_at > ? FETCH FIRST 1 ROW ONLY")) {
                    q.setObject(1, OffsetDateTime.ofInstant(clock.instant(), ZoneOffset.UTC));
                    try (ResultSet rs = q.executeQuery()) {
                        return rs.next();
                    }
                }
            });
            if (!anyLive) {
                return;
            }
            key(Duration.ZERO);
        } catch (RuntimeException e) {
            // never a reason not to start: the UI's sessions answer 503 until the check succeeds
            LOG.warn("The admin credentials were not checked at the start ({}); the first login or cookie checks them",
                    e.getMessage());
        }
    }

    /** The name in {@code shared_secret} of the fingerprint of the credentials the secret was last used with. */
    private static final String CREDENTIALS_NAME = "ui-session-credentials";
    /** How soon a first key whose check failed is checked again (meanwhile: {@link Unavailable} at once). */
    private static final Duration RECHECK = Duration.ofSeconds(1);
    /** Said once per process: another instance's sessions are not good here. */
    private volatile boolean warnedOtherCredentials;
    /** Said once per process: the fingerprint could not be written. */
    private volatile boolean warnedUnwritten;
    /** The fingerprint could not be written: tried again at each secret check. */
    private volatile boolean fingerprintUnwritten;
    /** This process's first key, derived, whose credentials check failed (guarded by this). */
    private Keyed unchecked;
    /** The secret and key of a rotation the database refused, for the next try (guarded by this). */
    private Keyed pendingRotation;
    private long uncheckedAt;

    /**
     * What {@code shared_secret} keeps of the credentials the secret is used with: a tag of the secret it was made with
     * (a SHA-256 of it, shortened) and an HMAC with the key over a fixed text. Telling the credentials from it costs a
     * PBKDF2 derivation per guess, as a cookie does.
     */
    private static String fingerprint(Keyed k) {
        return tag(k.secret()) + "." + mac(k.key(), "credentials\0");
    }

    private static String tag(String secret) {
        return hash(secret).substring(0, 16);
    }

    /**
     * The credentials are checked against the fingerprint the secret was last used with. This process's first key
     * ({@code first}) made with other credentials replaces the secret (a rotation): every session and every signature
     * made before ends, those of these credentials' earlier use too. Without that, credentials set back to earlier
     * ones (a rollback of the configuration, a password changed and changed back) would make the sessions opened with
     * them good again. Credentials change only with a start, so a secret another instance replaced later is not
     * replaced again: with other credentials there, a warning says so once (its sessions are not good here).
     * <p>
     * A fingerprint made with another secret than today's (the secret rotated by hand, written anew after a delete,
     * a malformed one replaced), a malformed one or none tells nothing of earlier credentials: it is replaced with this
     * process's, and a write the database refuses leaves the key usable (as before there was a fingerprint) and is
     * tried again at each secret check. A rotation the database refuses throws: the first key is not used.
     */
    private Keyed checkCredentials(Keyed k, boolean first) {
        for (int attempt = 0; attempt < 3; attempt++) {
            String mine = fingerprint(k);
            String stored = readRow(CREDENTIALS_NAME);
            if (mine.equals(stored)) {
                fingerprintUnwritten = false;
                return k;
            }
            if (stored == null || !stored.startsWith(tag(k.secret()) + ".") || stored.length() != mine.length()) {
                boolean written;
                try {
                    written = writeFingerprint(stored, mine, k.secret());
                } catch (Tx.TxException refused) {
                    fingerprintUnwritten = true;
                    if (!warnedUnwritten) {
                        warnedUnwritten = true;
                        LOG.warn("Could not write the admin credentials' fingerprint to table shared_secret ({}): until it is "
                                + "written, credentials set back to earlier ones are not told apart", refused.getMessage());
                    }
                    return k;
                }
                if (written) {
                    fingerprintUnwritten = false;
                    return k;
                }
                // another instance wrote one meanwhile, or replaced the secret this key was made with (a rotation
                // since it was read): compare again, with the secret as it is now
                String now = sharedSecret(k.secret());
                k = now.equals(k.secret()) ? k : new Keyed(now, derive(now));
                continue;
            }
            if (!first) {
                if (!warnedOtherCredentials) {
                    warnedOtherCredentials = true;
                    LOG.warn("Another instance on this database uses other admin credentials (table shared_secret): "
                            + "the UI sessions it opens are not good here, nor this instance's there");
                }
                return k;
            }
            String old = k.secret();
            // a rotation the database refused is tried again with the same new secret: no derivation per try
            if (pendingRotation == null) {
                String next = freshSecret();
                pendingRotation = new Keyed(next, derive(next));
            }
            Keyed rotated = pendingRotation;
            String fresh = rotated.secret();
            int[] ended = {0};
            boolean done = Tx.runDurable(ds, c -> {
                try (PreparedStatement up = c.prepareStatement("UPDATE shared_secret SET secret = ?, created_at = ? WHERE name = ? AND secret = ?");
                     PreparedStatement fp = c.prepareStatement("UPDATE shared_secret SET secret = ?, created_at = ? WHERE name = ? AND secret = ?");
                     PreparedStatement gone = c.prepareStatement("DELETE FROM ui_session")) {
                    OffsetDateTime at = OffsetDateTime.ofInstant(clock.instant(), ZoneOffset.UTC);
                    up.setString(1, fresh);
                    up.setObject(2, at);
                    up.setString(3, SECRET_NAME);
                    up.setString(4, old);
                    fp.setString(1, fingerprint(rotated));
                    fp.setObject(2, at);
                    fp.setString(3, CREDENTIALS_NAME);
                    fp.setString(4, stored);
                    if (up.executeUpdate() != 1 || fp.executeUpdate() != 1) {
                        // another instance rotated or wrote first: nothing of this transaction is kept
                        c.rollback();
                        return false;
                    }
                    ended[0] = gone.executeUpdate();
                    return true;
                }
            });
            pendingRotation = null;
            if (done) {
                fingerprintUnwritten = false;
                LOG.info("The admin credentials are not those the UI sessions were last made with: the sessions' shared "
                        + "secret was replaced, {} sessions ended (those of earlier credentials never come back)", ended[0]);
                return rotated;
            }
            String now = sharedSecret(old);
            k = now.equals(old) ? k : new Keyed(now, derive(now));
        }
        // the rows changed under every attempt: not decided
        throw new Tx.TxException(new SQLException("the admin credentials' fingerprint kept changing while it was checked"));
    }

    /**
     * Writes {@code mine} where {@code stored} was (none: a new row), while the secret is still {@code secret}; false
     * when another instance changed either first (a fingerprint of a secret replaced meanwhile would be stale at once).
     */
    private boolean writeFingerprint(String stored, String mine, String secret) {
        if (stored == null) {
            try {
                return Tx.runDurable(ds, c -> {
                    try (PreparedStatement ins = c.prepareStatement("INSERT INTO shared_secret (name, secret, created_at) "
                            + "SELECT ?, ?, ? FROM shared_secret WHERE name = ? AND secret = ?")) {
                        ins.setString(1, CREDENTIALS_NAME);
                        ins.setString(2, mine);
                        ins.setObject(3, OffsetDateTime.ofInstant(clock.instant(), ZoneOffset.UTC));
                        ins.setString(4, SECRET_NAME);
                        ins.setString(5, secret);
                        return ins.executeUpdate() == 1;
                    }
                });
            } catch (Tx.TxException e) {
                if (readRow(CREDENTIALS_NAME) != null) {
                    return false; // raced: another instance inserted it
                }
                throw e;
            }
        }
        return Tx.runDurable(ds, c -> {
            try (PreparedStatement up = c.prepareStatement("UPDATE shared_secret SET secret = ?, created_at = ? WHERE name = ? "
                    + "AND secret = ? AND EXISTS (SELECT 1 FROM shared_secret s WHERE s.name = ? AND s.secret = ?)")) {
                up.setString(1, mine);
                up.setObject(2, OffsetDateTime.ofInstant(clock.instant(), ZoneOffset.UTC));
                up.setString(3, CREDENTIALS_NAME);
                up.setString(4, stored);
                up.setString(5, SECRET_NAME);
                up.setString(6, secret);
                return up.executeUpdate() == 1;
            }
        });
    }

    /** How many PBKDF2 derivations this instance made: each costs about a fifth of a second of CPU (for the tests). */
    public int derivations() {
        return derivations.get();
    }

    private final java.util.concurrent.atomic.AtomicInteger derivations = new java.util.concurrent.atomic.AtomicInteger();

    private byte[] derive(String secret) {
        derivations.incrementAndGet();
        try {
            javax.crypto.SecretKeyFactory kdf = javax.crypto.SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256");
            javax.crypto.spec.PBEKeySpec spec = new javax.crypto.spec.PBEKeySpec(credentials, HEX.parseHex(secret), KDF_ITERATIONS, 256);
            try {
                return kdf.generateSecret(spec).getEncoded();
            } finally {
                spec.clearPassword();
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("PBKDF2WithHmacSHA256 is part of every JDK", e);
        }
    }

    private static boolean wellFormed(String secret) {
        return secret != null && secret.matches("[0-9a-f]{64}");
    }

    /**
     * The secret of all instances on this database. The first to ask creates it (a second that races it reads it);
     * one deleted while instances run is written back as {@code cached} (so they keep agreeing); a malformed one is
     * replaced, with an error in the log.
     */
    private String sharedSecret(String cached) {
        String found = readSecret();
        if (found != null && !wellFormed(found)) {
            String bad = found;
            LOG.error("The UI sessions' shared secret (table shared_secret, name '{}') is not 64 hexadecimal digits: replaced "
                    + "with a new one; UI sessions made before end", SECRET_NAME);
            String fresh = freshSecret();
            Tx.runDurable(ds, c -> {
                try (PreparedStatement up = c.prepareStatement("UPDATE shared_secret SET secret = ? WHERE name = ? AND secret = ?")) {
                    up.setString(1, fresh);
                    up.setString(2, SECRET_NAME);
                    up.setString(3, bad);
                    up.executeUpdate();
                }
                return null;
            });
            found = readSecret();
        }
        if (found == null) {
            if (cached != null) {
                LOG.warn("The UI sessions' shared secret was deleted from table shared_secret: written back. To end every "
                        + "session, delete the rows of ui_session; to change the secret, update its row");
            }
            String value = cached != null ? cached : freshSecret();
            try {
                Tx.runDurable(ds, c -> {
                    insertRow(c, SECRET_NAME, value);
                    return null;
                });
            } catch (Tx.TxException refused) {
                // another instance wrote it first (a duplicate key): read that one. None there: the database refuses
                // the write (read-only, full), which the caller handles as a database failure
                found = readSecret();
                if (found == null) {
                    throw refused;
                }
            }
            if (found == null) {
                found = readSecret();
            }
        }
        if (!wellFormed(found)) {
            throw new IllegalStateException("the UI sessions' shared secret (table shared_secret, name '" + SECRET_NAME
                    + "') could neither be read nor created as 64 hexadecimal digits");
        }
        return found;
    }

    private String freshSecret() {
        byte[] fresh = new byte[32];
        random.nextBytes(fresh);
        return HEX.formatHex(fresh);
    }

    private String readSecret() {
        return readRow(SECRET_NAME);
    }

    private String readRow(String name) {
        return Tx.run(ds, c -> {
            try (PreparedStatement q = c.prepareStatement("SELECT secret FROM shared_secret WHERE name = ?")) {
                q.setString(1, name);
                try (ResultSet rs = q.executeQuery()) {
                    return rs.next() ? rs.getString(1) : null;
                }
            }
        });
    }

    private void insertRow(Connection c, String name, String value) throws SQLException {
        try (PreparedStatement ins = c.prepareStatement("INSERT INTO shared_secret (name, secret, created_at) VALUES (?, ?, ?)")) {
            ins.setString(1, name);
            ins.setString(2, value);
            ins.setObject(3, OffsetDateTime.ofInstant(clock.instant(), ZoneOffset.UTC));
            ins.executeUpdate();
        }
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
