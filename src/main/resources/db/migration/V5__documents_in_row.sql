-- Order documents as in-row strings on H2 (${document}: CHARACTER VARYING(1000000) on H2, TEXT on
-- PostgreSQL): H2 keeps a CLOB in its separate LOB store, an extra write and read per order.
ALTER TABLE order_outbox ALTER COLUMN payload SET DATA TYPE ${document};
ALTER TABLE order_snapshot ALTER COLUMN document SET DATA TYPE ${document};
