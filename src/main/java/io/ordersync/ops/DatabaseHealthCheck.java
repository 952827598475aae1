package io.ordersync.ops;

import org.apache.camel.health.HealthCheckResultBuilder;
import org.apache.camel.impl.health.AbstractHealthCheck;

import javax.sql.DataSource;
import java.sql.Connection;
import java.util.Map;

/** Readiness: the database answers a validation query within two seconds. */
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
        try (Connection c = ds.getConnection()) {
            if (c.isValid(2)) {
                builder.up();
            } else {
                builder.down().message("database connection is not valid");
            }
        } catch (Exception e) {
            builder.down().error(e).message("database unreachable: " + e.getMessage());
        }
    }
}
