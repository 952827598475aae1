package io.ordersync.catalog;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.nimbusds.jwt.SignedJWT;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.ordersync.support.OrdersyncApp;
import no.nav.security.mock.oauth2.MockOAuth2Server;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * mappings/catalog/salesforce.yaml. Salesforce publishes no static OpenAPI description of its REST API, so the
 * server here answers as the documented examples do (REST API Developer Guide v62.0, "Insert or Update (Upsert)
 * a Record Using an External ID"; "OAuth 2.0 Client Credentials Flow"): PATCH
 * /services/data/v62.0/sobjects/Contact/Pretix_Email__c/{value}, no external id or Id in the body, 201
 * {"id", "errors": [], "success": true, "created": true} for a new record and 200 with "created": false for an
 * update, 400 [{"message": "No such column 'X' on sobject of type Contact", "errorCode": "INVALID_FIELD"}] for an
 * unknown field, 401 INVALID_SESSION_ID for a token it no longer takes. Tokens come from a real OAuth2 server
 * (mock-oauth2-server) behind /services/oauth2/token, answered in Salesforce's shape (no expires_in).
 */
class SalesforceCatalogueTest extends CatalogueTestSupport {

    /** Contact fields of Salesforce's Object Reference that the catalogue may write (a subset; standard fields). */
    private static final Set<String> CONTACT_FIELDS = Set.of("Email", "FirstName", "LastName", "Salutation", "Phone", "MobilePhone",
            "Title", "Department", "MailingStreet", "MailingPostalCode", "MailingCity", "MailingState", "MailingCountry",
            "MailingCountryCode", "MailingStateCode", "LeadSource", "Description", "AccountId", "Birthdate");
    private static final String ISSUER = "salesforce";

    private final Map<String, ObjectNode> contacts = new ConcurrentHashMap<>();
    private final List<String> requests = new CopyOnWriteArrayList<>();
    private final List<String> tokenForms = new CopyOnWriteArrayList<>();
    private final AtomicBoolean expireSessionOnce = new AtomicBoolean();
    private final AtomicInteger ids = new AtomicInteger(1000);

    private HttpServer salesforce(MockOAuth2Server oauth) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        HttpClient client = HttpClient.newHttpClient();
        server.createContext("/services/oauth2/token", ex -> {
            try (ex) {
                String form = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
                tokenForms.add(form + (ex.getRequestHeaders().containsKey("Authorization") ? " +Authorization" : ""));
                HttpResponse<String> r = client.send(HttpRequest.newBuilder(oauth.tokenEndpointUrl(ISSUER).uri())
                        .header("Content-Type", "application/x-www-form-urlencoded").POST(HttpRequest.BodyPublishers.ofString(form)).build(),
                        HttpResponse.BodyHandlers.ofString());
                JsonNode token = JSON.readTree(r.body());
                ObjectNode out = JSON.createObjectNode();
                if (r.statusCode() != 200) {
                    out.put("error", "invalid_client").put("error_description", "invalid client credentials");
                    send(ex, 400, out.toString());
                    return;
                }
                String base = "http://127.0.0.1:" + ex.getLocalAddress().getPort();
                // the documented answer: no expires_in
                out.put("access_token", token.path("access_token").asText()).put("signature", "nUFHwtfIGLKDTHcLWmDBG8frv0t+HQGl/iCZFIQUarE=")
                        .put("token_format", "opaque").put("instance_url", base)
                        .put("id", "https://login.salesforce.com/id/00Dd000000XXXXXXX/005d000000XXXXX").put("token_type", "Bearer")
                        .put("issued_at", String.valueOf(System.currentTimeMillis()));
                send(ex, 200, out.toString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        server.createContext("/services/data/", ex -> {
            try (ex) {
                String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
                String path = ex.getRequestURI().getRawPath();
                requests.add(ex.getRequestMethod() + " " + path + " " + body);
                String auth = ex.getRequestHeaders().getFirst("Authorization");
                if (auth == null || !auth.startsWith("Bearer ") || !issuedHere(auth.substring(7), oauth) || expireSessionOnce.getAndSet(false)) {
                    send(ex, 401, "[{\"message\":\"Session expired or invalid\",\"errorCode\":\"INVALID_SESSION_ID\"}]");
                    return;
                }
                String prefix = "/services/data/v62.0/sobjects/Contact/Pretix_Email__c/";
                if (!ex.getRequestMethod().equals("PATCH") || !path.startsWith(prefix)) {
                    send(ex, 404, "[{\"message\":\"The requested resource does not exist\",\"errorCode\":\"NOT_FOUND\"}]");
                    return;
                }
                JsonNode fields = JSON.readTree(body);
                for (java.util.Iterator<String> it = fields.fieldNames(); it.hasNext(); ) {
                    String f = it.next();
                    if (f.equals("Id") || f.equals("Pretix_Email__c")) {
                        send(ex, 400, "[{\"message\":\"The field " + f + " can't be specified in the request body of an upsert by external ID\","
                                + "\"errorCode\":\"INVALID_FIELD\",\"fields\":[\"" + f + "\"]}]");
                        return;
                    }
                    if (!CONTACT_FIELDS.contains(f)) {
                        send(ex, 400, "[{\"message\":\"No such column '" + f + "' on sobject of type Contact\",\"errorCode\":\"INVALID_FIELD\"}]");
                        return;
                    }
                }
                String key = URLDecoder.decode(path.substring(prefix.length()), StandardCharsets.UTF_8);
                ObjectNode existing = contacts.get(key);
                if (existing == null && fields.path("LastName").asText("").isEmpty()) {
                    send(ex, 400, "[{\"message\":\"Required fields are missing: [LastName]\",\"errorCode\":\"REQUIRED_FIELD_MISSING\",\"fields\":[\"LastName\"]}]");
                    return;
                }
                boolean created = existing == null;
                if (created) {
                    existing = JSON.createObjectNode().put("Id", "003" + "D000000Kv" + ids.incrementAndGet() + "IAB");
                    contacts.put(key, existing);
                }
                existing.setAll((ObjectNode) fields);
                send(ex, created ? 201 : 200, "{\"id\":\"" + existing.path("Id").asText() + "\",\"errors\":[],\"success\":true,\"created\":" + created + "}");
            }
        });
        server.start();
        return server;
    }

    private static boolean issuedHere(String token, MockOAuth2Server oauth) {
        try {
            return SignedJWT.parse(token).getJWTClaimsSet().getIssuer().equals(oauth.issuerUrl(ISSUER).toString());
        } catch (Exception e) {
            return false;
        }
    }

    private static void send(HttpExchange ex, int status, String body) throws java.io.IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json;charset=UTF-8");
        ex.sendResponseHeaders(status, b.length);
        ex.getResponseBody().write(b);
    }

    @Test
    void contactsAreUpsertedByExternalIdWithAClientCredentialsToken() throws Exception {
        MockOAuth2Server oauth = new MockOAuth2Server();
        oauth.start();
        keep(oauth::shutdown);
        HttpServer server = salesforce(oauth);
        keep(() -> server.stop(0));
        String url = "http://127.0.0.1:" + server.getAddress().getPort();
        Map<String, String> env = Map.of("SALESFORCE_URL", url, "SALESFORCE_CLIENT_ID", "3MVG9test", "SALESFORCE_CLIENT_SECRET", "8A4BE6-secret");
        OrdersyncApp app = start("salesforce", catalogue("salesforce"), env);
        for (ObjectNode order : fixtureOrders()) {
            post(app, order);
        }
        assertThat(settle(app)).as("parked").isEmpty();
        assertThat(contacts).containsOnlyKeys("tester@example.org", "anna@example.com");
        ObjectNode john = contacts.get("tester@example.org");
        assertThat(john.path("LastName").asText()).isEqualTo("Doe");
        assertThat(john.path("FirstName").asText()).isEqualTo("John");
        assertThat(john.path("LeadSource").asText()).isEqualTo("pretix");
        assertThat(results(app)).extracting(r -> r.get("action")).containsOnly("created");
        assertThat(results(app)).extracting(r -> String.valueOf(r.get("remote_id"))).allMatch(id -> id.startsWith("003"));
        // the token request as Salesforce documents it: client_id and client_secret in the form, no Basic header
        assertThat(tokenForms).hasSize(1);
        assertThat(tokenForms.get(0)).contains("grant_type=client_credentials", "client_id=3MVG9test", "client_secret=8A4BE6-secret")
                .doesNotContain("+Authorization");

        // the session ends (401 INVALID_SESSION_ID): a new token, the same upsert, now an update (200, created false)
        expireSessionOnce.set(true);
        post(app, changedOrder());
        assertThat(settle(app)).as("parked").isEmpty();
        assertThat(tokenForms).hasSize(2);
        assertThat(contacts.get("tester@example.org").path("FirstName").asText()).isEqualTo("Johnny");
        assertThat(results(app)).filteredOn(r -> "ABC12".equals(r.get("order_code"))).extracting(r -> r.get("action")).containsOnly("updated");

        // a misspelt field in a copy of the file: 400 INVALID_FIELD, parked with Salesforce's message
        String broken = catalogue("salesforce").replace("remote: MailingCity}", "remote: MailingCty}");
        assertThat(broken).isNotEqualTo(catalogue("salesforce"));
        OrdersyncApp app2 = start("salesforce", broken, env);
        post(app2, fixture("order-abc12"));
        assertThat(settle(app2)).singleElement().satisfies(r -> {
            assertThat(r.get("need_manual_retry")).isEqualTo("permanent");
            assertThat(String.valueOf(r.get("last_error"))).contains("HTTP 400", "No such column 'MailingCty' on sobject of type Contact");
        });
    }
}
