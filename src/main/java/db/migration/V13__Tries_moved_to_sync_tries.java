package db.migration;

import io.ordersync.order.AttemptLog;
import org.flywaydb.core.api.migration.BaseJavaMigration;
import org.flywaydb.core.api.migration.Context;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.OffsetDateTime;
import java.util.List;

/**
 * Moves the tries stored one row per try (sync_attempt, V8) into sync_tries (V12), one row each — which sync they
 * belonged to was not stored — and drops sync_attempt. In the migration's transaction: all of them or none.
 */
public class V13__Tries_moved_to_sync_tries extends BaseJavaMigration {

    @Override
    public void migrate(Context context) throws Exception {
        Connection c = context.getConnection();
        try (Statement read = c.createStatement(); PreparedStatement write = c.prepareStatement(AttemptLog.INSERT)) {
            // PostgreSQL streams the rows in this transaction instead of reading the whole table into memory
            read.setFetchSize(1000);
            try (ResultSet rs = read.executeQuery("SELECT event_slug, order_code, provider, mapping_id, remote_type, purpose, "
                    + "method, url, status, latency_ms, request_body, response_body, error, attempted_at FROM sync_attempt ORDER BY id")) {
                int pending = 0;
                while (rs.next()) {
                    Integer status = rs.getObject(9) == null ? null : rs.getInt(9);
                    AttemptLog.Row row = new AttemptLog.Row(rs.getString(4), rs.getString(5), rs.getString(6), rs.getString(7),
                            rs.getString(8), status, rs.getInt(10), rs.getString(11), rs.getString(12), rs.getString(13),
                            rs.getObject(14, OffsetDateTime.class).toInstant());
                    AttemptLog.insert(write, rs.getString(1), rs.getString(2), rs.getString(3), AttemptLog.chunks(List.of(row)).get(0));
                    write.addBatch();
                    if (++pending == 1000) {
                        write.executeBatch();
                        pending = 0;
                    }
                }
                if (pending > 0) {
                    write.executeBatch();
                }
            }
        }
        try (Statement st = c.createStatement()) {
            st.execute("DROP TABLE sync_attempt");
        }
    }
}
