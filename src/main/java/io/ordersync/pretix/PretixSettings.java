package io.ordersync.pretix;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * pretix as a source, from the {@code ordersync.pretix.*} settings: the instance's base URL (empty: the
 * connector is off), the organizer, the events (empty: every event of the organizer), the API token (sent as
 * {@code Authorization: Token …}, never shown), which actions trigger what, and how polling, the catalogue
 * cache and imports behave.
 */
public record PretixSettings(String url, String organizer, List<String> events, String token, PretixActions actions,
                             long pollIntervalMs, Duration catalogMaxAge, long importPagePauseMs, int timeoutMs, Duration lease, String webhookSecret) {

    public PretixSettings(String url, String organizer, String events, String token, PretixActions actions,
                          long pollIntervalMs, Duration catalogMaxAge, long importPagePauseMs, int timeoutMs, Duration lease, String webhookSecret) {
        this(url.endsWith("/") ? url.substring(0, url.length() - 1) : url, organizer,
                Arrays.stream(events.split(",")).map(String::trim).filter(e -> !e.isEmpty()).toList(),
                token, actions, pollIntervalMs, catalogMaxAge, importPagePauseMs, timeoutMs, lease, webhookSecret);
    }

    /** Whether the connector is configured (a URL and an organizer). */
    public boolean enabled() {
        return !url.isEmpty() && !organizer.isEmpty();
    }

    /** Whether orders of this event are taken. */
    public boolean covers(String event) {
        return events.isEmpty() || events.contains(event);
    }

    /** {@code …/api/v1/organizers/<organizer>/events/<event>} */
    public String eventApi(String event) {
        return url + "/api/v1/organizers/" + organizer + "/events/" + event;
    }

    @Override
    public String toString() {
        // the token never leaves through a log line or an error message
        return "PretixSettings[url=" + url + ", organizer=" + organizer + ", events=" + events + ", token="
                + (token.isEmpty() ? "none" : "<set>") + ", webhook secret=" + (webhookSecret.isEmpty() ? "none" : "<set>") + "]";
    }
}
