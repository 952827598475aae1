package io.ordersync.queue;

import java.time.Instant;

/** One row of the sync queue: an order waiting for (or being synced to) one provider. */
public record QueueEntry(long id, String eventSlug, String orderCode, String provider, String slot,
                         String triggeredBy, Instant triggeredAt, Instant notBefore, int failedAttempts,
                         String needManualRetry, String lastError, String claimToken, String claimedBy,
                         Instant leaseUntil) {

    public boolean inFlight() {
        return "inflight".equals(slot);
    }
}
