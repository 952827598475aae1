package io.ordersync;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ordersync.support.CrmProcessTestSupport;
import io.ordersync.support.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Orders as large as intake takes (close to ordersync.intake.max-document-bytes), many of them at once, on the
 * default setup (H2) with the heap of jvm.options: the outbox, the queue's claims and the deliveries must not hold
 * so many of them at a time that the heap runs out. Before, the outbox poll read 100 payloads at once (95 MB here)
 * and H2 ran out of memory writing its store within a second, closing the database.
 */
class LargeDocumentsMemoryTest extends CrmProcessTestSupport {

    private static final int ORDERS = 240;

    @Test
    void anOutboxOfLargeOrdersIsTakenInAndSyncedWithTheHeapOfJvmOptions() throws Exception {
        List<String> jvm = Files.readAllLines(Path.of("jvm.options")).stream().map(String::trim)
                .filter(l -> l.startsWith("-")).toList();
        assertThat(jvm).contains("-Xmx144m");
        // 16 deliveries at once: a claim takes up to 32 rows and reads their snapshots ahead
        crmProcess("large", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "5000"),
                crm -> crm.replace("concurrency: 2", "concurrency: 16"), jvm);
        assertThat(Files.readString(mappings.resolve("crm.yaml"))).contains("concurrency: 16");
        String url = h2Url();
        process.start(); // the schema
        process.close();
        // 240 orders of 950 000 characters each (about 230 MB) waiting in the outbox
        ObjectNode doc = (ObjectNode) JSON.readTree(Fixtures.read("fixtures/order-xyz34.json"));
        ((ObjectNode) doc.path("order")).put("comment", "x".repeat(950_000));
        String text = doc.toString();
        try (Connection c = DriverManager.getConnection(url, "sa", "")) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO order_outbox (payload) VALUES (?)")) {
                for (int i = 0; i < ORDERS; i++) {
                    String code = String.format("L%05d", i);
                    ps.setString(1, text.replace("XYZ34", code).replace("anna@example.com", code + "@example.com"));
                    ps.executeUpdate();
                    if (i % 10 == 9) {
                        c.commit();
                    }
                }
                c.commit();
            }
        }
        process.start();
        try {
            await().atMost(Duration.ofSeconds(240)).pollInterval(Duration.ofSeconds(1)).until(() -> target.objects("contacts").size() == ORDERS
                    || !process.isAlive() || Files.readString(process.log()).contains("OutOfMemoryError"));
        } finally {
            // for a failure's diagnosis: the process log outlives the temporary directory
            Files.copy(process.log(), Path.of("target", "LargeDocumentsMemoryTest.log"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        List<String> outOfMemory = Files.readAllLines(process.log()).stream().filter(l -> l.contains("OutOfMemoryError")).limit(3).toList();
        assertThat(outOfMemory).as("the process log").isEmpty();
        assertThat(target.objects("contacts")).hasSize(ORDERS);
        assertThat(process.isAlive()).isTrue();
    }
}
