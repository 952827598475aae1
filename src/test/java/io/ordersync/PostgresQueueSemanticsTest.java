package io.ordersync;

import io.ordersync.support.Postgres;

import java.util.Properties;

/** The sync queue's semantics, the same tests, on a real PostgreSQL. */
class PostgresQueueSemanticsTest extends QueueSemanticsTest {

    @Override
    protected Properties database() {
        try {
            return Postgres.newDatabase();
        } catch (Exception e) {
            throw new IllegalStateException("cannot start PostgreSQL", e);
        }
    }
}
