package io.ordersync.ops;

import org.apache.camel.health.HealthCheckResultBuilder;
import org.apache.camel.impl.health.AbstractHealthCheck;

import javax.sql.DataSource;
import java.sql.Connection;
import java.util.Map;

/** Readiness: the database answers a query within two seconds, and takes writes (is not read-only). */
public final class DatabaseHealthCheck extends AbstractHealthCheck {

    private final DataSource ds;

    public DatabaseHealthCheck(DataSource ds) {
        super("ordersync", "database");
        this.ds = ds;
    }

    @Override
    public boolean isLiveness() {
        return false;
    }

    @Override
    protected void doCall(HealthCheckResultBuilder builder, Map<String, Object> options) {
        // a statement, not Connection.isValid: embedded H2 answers isValid from the session alone, true also when H2
        // has closed the database under it (ClosedDatabaseEviction)
        try (Connection c = ds.getConnection()) {
            // a read-only database answers a query: a standby after a failover (PostgreSQL), a file H2 opened read-only.
            // Every intake answer would be 503 while the load balancer kept sending (a review)
            if (io.ordersync.db.Database.isReadOnly(c)) {
                builder.down().message("database is read-only: ordersync cannot store what it takes in");
                return;
            }
            builder.up();
        } catch (Exception e) {
            builder.down().error(e).message("database unreachable: " + e.getMessage());
        }
    }
}
