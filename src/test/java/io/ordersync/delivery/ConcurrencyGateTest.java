package io.ordersync.delivery;

import org.apache.camel.builder.RouteBuilder;
import org.apache.camel.impl.DefaultCamelContext;
import org.apache.camel.support.DefaultExchange;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The gate at the start of route {@code provider-<id>}, in a route like it: seda workers, more of them than the
 * share (as on an instance that shares a provider with others), each holding its place for as long as the message
 * says.
 */
class ConcurrencyGateTest {

    private final AtomicInteger inside = new AtomicInteger();
    private final AtomicInteger most = new AtomicInteger();
    private final AtomicInteger done = new AtomicInteger();
    private final AtomicInteger share = new AtomicInteger(1);
    private final List<String> failures = new CopyOnWriteArrayList<>();
    private final List<String> untried = new CopyOnWriteArrayList<>();
    private final List<String> entered = new CopyOnWriteArrayList<>();
    private final List<String> gateEntered = new CopyOnWriteArrayList<>();
    private final List<String> ended = new CopyOnWriteArrayList<>();
    private final ConcurrencyGate.Places places = new ConcurrencyGate.Places() {
        @Override
        public void entered(org.apache.camel.Exchange e) {
            gateEntered.add(e.getIn().getBody(String.class));
        }

        @Override
        public void untried(org.apache.camel.Exchange e) {
            untried.add(e.getIn().getBody(String.class));
        }

        @Override
        public void ended(org.apache.camel.Exchange e) {
            ended.add(e.getIn().getBody(String.class));
        }
    };

    private DefaultCamelContext context(ConcurrencyGate gate) throws Exception {
        DefaultCamelContext ctx = new DefaultCamelContext();
        ctx.getRegistry().bind("gate", gate);
        ctx.addRoutes(new RouteBuilder() {
            @Override
            public void configure() {
                onException(IllegalStateException.class).handled(true).process(e -> failures.add(e.getIn().getBody(String.class)));
                from("seda:work?concurrentConsumers=3&pollTimeout=50")
                        .process("gate")
                        .process(e -> {
                            entered.add(e.getIn().getBody(String.class));
                            int n = inside.incrementAndGet();
                            most.accumulateAndGet(n, Math::max);
                            try {
                                String body = e.getIn().getBody(String.class);
                                Thread.sleep(Long.parseLong(body.replace("fail:", "")));
                                if (body.startsWith("fail:")) {
                                    throw new IllegalStateException(body);
                                }
                            } finally {
                                inside.decrementAndGet();
                                done.incrementAndGet();
                            }
                        });
            }
        });
        ctx.start();
        return ctx;
    }

    private ConcurrencyGate gate() {
        return new ConcurrencyGate(e -> "crm", e -> share.get(), places);
    }

    /**
     * The Throttle EIP's ConcurrentRequests mode (Camel 4.18) let two of these run at once with a limit of 1: a
     * release, then a sync that held its permit for more than 10 s, after which the throttle had dropped its state.
     */
    @Test
    void aPlaceHeldLongerThanTenSecondsIsNotForgotten() throws Exception {
        try (DefaultCamelContext ctx = context(gate())) {
            var send = ctx.createProducerTemplate();
            send.sendBody("seda:work", "10");
            await().atMost(Duration.ofSeconds(5)).until(() -> done.get() == 1);
            send.sendBody("seda:work", "10500");
            send.sendBody("seda:work", "1000");
            send.sendBody("seda:work", "1000");
            await().atMost(Duration.ofSeconds(30)).until(() -> done.get() == 4);
            assertThat(most.get()).as("syncs inside at once").isEqualTo(1);
        }
    }

    @Test
    void theShareIsReadAtEveryEntryAndAFailedSyncLeaves() throws Exception {
        share.set(2);
        ConcurrencyGate gate = gate();
        try (DefaultCamelContext ctx = context(gate)) {
            var send = ctx.createProducerTemplate();
            // two places; the third worker waits, and a failure gives its place back
            send.sendBody("seda:work", "fail:600");
            send.sendBody("seda:work", "600");
            send.sendBody("seda:work", "600");
            await().atMost(Duration.ofSeconds(10)).until(() -> done.get() == 3);
            assertThat(most.get()).isEqualTo(2);
            assertThat(failures).containsExactly("fail:600");
            // every sync that entered is told when it ended, the failed one too
            await().atMost(Duration.ofSeconds(2)).until(() -> ended.size() == 3);
            assertThat(ended).containsExactlyInAnyOrder("fail:600", "600", "600");
            assertThat(gateEntered).containsExactlyInAnyOrderElementsOf(ended);
            await().atMost(Duration.ofSeconds(2)).until(() -> gate.running("crm") == 0);

            // the share falls to 1 while two run: no third enters, and none until only one is left
            // (syncs of 3 s: two sent one after the other are inside together however slow the machine)
            most.set(0);
            send.sendBody("seda:work", "3000");
            send.sendBody("seda:work", "3000");
            await().atMost(Duration.ofSeconds(3)).until(() -> inside.get() == 2);
            share.set(1);
            send.sendBody("seda:work", "300");
            await().atMost(Duration.ofSeconds(20)).until(() -> done.get() == 6);
            assertThat(most.get()).isEqualTo(2);

            // the share grows while a sync waits: it enters at the gate's next look at the share, while the first (8 s)
            // still runs: without a place given back
            most.set(0);
            send.sendBody("seda:work", "8000");
            await().atMost(Duration.ofSeconds(3)).until(() -> inside.get() == 1);
            send.sendBody("seda:work", "8000");
            Thread.sleep(300);
            assertThat(inside.get()).isEqualTo(1);
            share.set(2);
            await().atMost(Duration.ofMillis(ConcurrencyGate.RECHECK_MS + 5000)).until(() -> inside.get() == 2);
            await().atMost(Duration.ofSeconds(30)).until(() -> done.get() == 8);
            assertThat(gate.running("crm")).isZero();
        }
    }

    /**
     * A stop whose grace time runs out interrupts the workers: the one waiting for its place goes to {@code untried}
     * (ordersync hands its row back) and goes no further in the route; no failure is handled for it.
     */
    @Test
    void aSyncInterruptedWhileItWaitsIsUntriedAndGoesNoFurther() throws Exception {
        ConcurrencyGate gate = new ConcurrencyGate(e -> "crm", e -> 1, places);
        DefaultCamelContext ctx = new DefaultCamelContext();
        ctx.getRegistry().bind("gate", gate);
        ctx.addRoutes(new RouteBuilder() {
            @Override
            public void configure() {
                onException(Exception.class).handled(true).process(e -> failures.add(e.getIn().getBody(String.class)));
                from("seda:work?concurrentConsumers=2&pollTimeout=50")
                        .process("gate")
                        .process(e -> {
                            entered.add(e.getIn().getBody(String.class));
                            // a request whose answer is late: a blocking read, which an interrupt does not end
                            long until = System.nanoTime() + Long.parseLong(e.getIn().getBody(String.class)) * 1_000_000;
                            while (System.nanoTime() < until) {
                                try {
                                    Thread.sleep(50);
                                } catch (InterruptedException ignored) {
                                    // not interruptible
                                }
                            }
                        });
            }
        });
        ctx.start();
        ctx.getShutdownStrategy().setTimeout(1);
        var send = ctx.createProducerTemplate();
        send.sendBody("seda:work", "4000");
        await().atMost(Duration.ofSeconds(2)).until(() -> entered.size() == 1);
        send.sendBody("seda:work", "100");
        // taken from the queue by the second worker, which then waits at the gate
        await().atMost(Duration.ofSeconds(5)).until(() -> ctx.getEndpoint("seda:work", org.apache.camel.component.seda.SedaEndpoint.class)
                .getCurrentQueueSize() == 0);
        Thread.sleep(300);
        ctx.stop();
        await().atMost(Duration.ofSeconds(5)).until(() -> !untried.isEmpty());
        assertThat(untried).containsExactly("100");
        assertThat(gateEntered).containsExactly("4000");
        // the holder ends (its 4 s): the place it gives back is taken by nobody
        await().atMost(Duration.ofSeconds(15)).until(() -> ended.size() == 1);
        Thread.sleep(500);
        assertThat(entered).containsExactly("4000");
        assertThat(failures).isEmpty();
        // the one that entered is told when its exchange ends, refused as it is by the stop
        assertThat(ended).containsExactly("4000");
    }

    /** Each provider has its own count. */
    @Test
    void providersDoNotShareAPlace() throws Exception {
        ConcurrencyGate gate = new ConcurrencyGate(e -> e.getIn().getHeader("provider", String.class), e -> 1, new ConcurrencyGate.Places() { });
        try (DefaultCamelContext ctx = new DefaultCamelContext()) {
            ctx.start();
            DefaultExchange a = new DefaultExchange(ctx);
            a.getIn().setHeader("provider", "a");
            DefaultExchange b = new DefaultExchange(ctx);
            b.getIn().setHeader("provider", "b");
            gate.process(a);
            gate.process(b);
            assertThat(gate.running("a")).isEqualTo(1);
            assertThat(gate.running("b")).isEqualTo(1);
            a.getExchangeExtension().handoverCompletions().forEach(done -> done.onComplete(a));
            b.getExchangeExtension().handoverCompletions().forEach(done -> done.onComplete(b));
            assertThat(gate.running("a")).isZero();
        }
    }
}
