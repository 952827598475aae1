package io.ordersync.bench;

import io.ordersync.support.FakeTarget;

/**
 * The benchmarks' target: the tests' CRM on loopback in its own JVM (so it does not share the measured one),
 * requests not recorded, lookups indexed. {@code GET /_stats} counts objects, {@code POST /_reset} empties it.
 */
public final class TargetMain {

    private TargetMain() {
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        FakeTarget target = new FakeTarget(port).requireAuthorization("Bearer s3cret").recordRequests(false);
        System.out.println("target listening on " + target.url());
        Thread.currentThread().join();
    }
}
