package io.ordersync.ops;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ordersync.delivery.WebhookSigner;
import org.apache.camel.Exchange;
import org.apache.camel.Message;

import java.util.Base64;
import java.util.Map;

/**
 * The message steps of routes/alerts.camel.yaml: an alert (a map from {@link Alerts#check}) as the JSON of an
 * operational webhook — signed per Standard Webhooks when a whsec_ secret is set — or as an e-mail.
 */
public final class AlertSender {

    private final ObjectMapper mapper;
    private final String webhookUrl;
    private final byte[] webhookKey;
    private final String mailUri;
    private final String mailTo;
    private final String mailFrom;

    public AlertSender(ObjectMapper mapper, String webhookUrl, String webhookSecret, String mailUri, String mailTo, String mailFrom) {
        this.mapper = mapper;
        this.webhookUrl = webhookUrl == null ? "" : webhookUrl.trim();
        this.mailUri = mailUri == null ? "" : mailUri.trim();
        this.mailTo = mailTo == null ? "" : mailTo.trim();
        this.mailFrom = mailFrom == null ? "" : mailFrom.trim();
        if (!this.webhookUrl.isEmpty() && !this.webhookUrl.matches("https?://\\S+")) {
            throw new IllegalArgumentException("ordersync.alerts.webhook-url must be an http:// or https:// URL");
        }
        if (!this.mailUri.isEmpty() && this.mailTo.isEmpty()) {
            throw new IllegalArgumentException("ordersync.alerts.mail.uri is set: ordersync.alerts.mail.to must name a recipient");
        }
        String s = webhookSecret == null ? "" : webhookSecret.trim();
        if (s.isEmpty()) {
            this.webhookKey = null;
        } else {
            try {
                this.webhookKey = io.ordersync.delivery.WebhookSigner.key(s);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("ordersync.alerts.webhook-secret: " + e.getMessage());
            }
        }
    }

    public boolean enabled() {
        return webhook() || mail();
    }

    public boolean webhook() {
        return !webhookUrl.isEmpty();
    }

    public boolean mail() {
        return !mailUri.isEmpty();
    }

    /** The alert as JSON in the body; its type and summary in headers for the two ways out. */
    @SuppressWarnings("unchecked")
    public void json(Exchange exchange) throws Exception {
        Message in = exchange.getIn();
        Map<String, Object> alert = in.getBody(Map.class);
        in.getHeaders().clear();
        exchange.setProperty("OrdersyncAlertType", alert.get("type"));
        in.setHeader("OrdersyncAlertType", alert.get("type"));
        in.setHeader("OrdersyncAlertSummary", ((Map<String, Object>) alert.get("data")).get("summary"));
        in.setBody(mapper.writeValueAsString(alert));
    }

    /** An HTTP POST of the JSON, with webhook-id, webhook-timestamp and webhook-signature (when a secret is set). */
    public void webhookRequest(Exchange exchange) {
        Message in = exchange.getIn();
        String body = in.getBody(String.class);
        in.removeHeaders("*");
        in.setHeader(Exchange.HTTP_METHOD, "POST");
        in.setHeader(Exchange.CONTENT_TYPE, "application/json");
        in.setHeader(Exchange.HTTP_URI, webhookUrl);
        if (webhookKey != null) {
            WebhookSigner.headers(webhookKey, WebhookSigner.messageId("ordersync-alerts", body), java.time.Instant.now().getEpochSecond(), body)
                    .forEach(in::setHeader);
        }
    }

    /**
     * Why the webhook delivery failed, for the log, without the webhook URL's path, query and user info: Slack,
     * Teams, Discord and others put the hook's secret there, and the HTTP client's message names the URL.
     */
    public String webhookFailure(Exchange exchange) {
        Exception e = exchange.getProperty(Exchange.EXCEPTION_CAUGHT, Exception.class);
        return redacted(e == null ? "unknown failure" : e.getClass().getSimpleName() + ": " + e.getMessage());
    }

    String redacted(String message) {
        if (webhookUrl.isEmpty() || message == null) {
            return message;
        }
        java.net.URI u = java.net.URI.create(webhookUrl);
        String origin = u.getScheme() + "://" + u.getHost() + (u.getPort() < 0 ? "" : ":" + u.getPort());
        String out = message.replace(webhookUrl, origin + "/…");
        int path = webhookUrl.indexOf('/', webhookUrl.indexOf("://") + 3);
        if (path > 0 && webhookUrl.length() - path > 1) {
            out = out.replace(webhookUrl.substring(path), "/…");
        }
        if (u.getRawUserInfo() != null) {
            out = out.replace(u.getRawUserInfo(), "…");
        }
        return out;
    }

    /** An e-mail: the summary as subject, the summary and the JSON as text. */
    public void mailMessage(Exchange exchange) {
        Message in = exchange.getIn();
        String body = in.getBody(String.class);
        String summary = in.getHeader("OrdersyncAlertSummary", String.class);
        String type = in.getHeader("OrdersyncAlertType", String.class);
        in.removeHeaders("*");
        String subject = "[ordersync] " + (summary == null ? type : summary).replaceAll("[\\r\\n]+", " ");
        in.setHeader("Subject", subject.length() > 200 ? subject.substring(0, 199) + "…" : subject);
        in.setHeader("To", mailTo);
        in.setHeader("From", mailFrom);
        in.setHeader(Exchange.CONTENT_TYPE, "text/plain; charset=UTF-8");
        in.setBody((summary == null ? "" : summary) + "\n\n" + body + "\n");
    }

    public String mailUri() {
        return mailUri;
    }
}
