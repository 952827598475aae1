package io.ordersync;

import io.ordersync.support.AppTestSupport;
import io.ordersync.support.Fixtures;
import io.ordersync.support.OrdersyncApp;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** Template functions in a property, a lookup path and a display name, synced to a real HTTP target. */
class TemplateFunctionsEndToEndTest extends AppTestSupport {

    @Test
    void functionsShapeTheValuesThePathsAndTheNames() throws Exception {
        Fixtures.mapping(mappings, "crm", Map.of("max_attempts", "5", "backoff", "5s", "response_timeout_ms", "2000"));
        String file = Files.readString(mappings.resolve("crm.yaml"));
        String p = "      - ";
        file = file.replace(p + "{value: ordersync, remote: origin, mode: if_new}", p + "{value: ordersync, remote: origin, mode: if_new}\n"
                + p + "{template: \"{email|upper}\", remote: email_upper}\n"
                + p + "{template: \"{email|trim|lower|md5}\", remote: email_hash}\n"
                + p + "{template: \"{order_total|cents}\", remote: total_cents}\n"
                + p + "{template: \"{order_date|date(dd.MM.yyyy HH:mm, Europe/Berlin)}\", remote: ordered_at}\n"
                + p + "{template: \"{order_code|substring(0, 3)}-{invoice_address_company|default(private)}\", remote: reference}");
        assertThat(file).contains("email_hash");
        Files.writeString(mappings.resolve("crm.yaml"), file);
        target.recordRequests(true);
        app = new OrdersyncApp(tmp.resolve("data"), mappings, Map.of("test.crm.url", target.url(), "test.crm.token", "s3cret")).start();
        assertThat(app.post("/api/events", fixture("order-abc12").toString()).statusCode()).isEqualTo(202);
        awaitQueueEmpty();
        var contact = target.objects("contacts").get(0);
        assertThat(contact.path("email_upper").asText()).isEqualTo("TESTER@EXAMPLE.ORG");
        assertThat(contact.path("email_hash").asText()).hasSize(32).isEqualTo(io.ordersync.mapping.TemplateFunctions.apply("|md5", "tester@example.org"));
        assertThat(contact.path("total_cents").asText()).isEqualTo("4600");
        assertThat(contact.path("ordered_at").asText()).isEqualTo("01.03.2026 11:00");
        assertThat(contact.path("reference").asText()).isEqualTo("ABC-Sample company");
    }
}
