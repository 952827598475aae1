package io.ordersync.order;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The parsed form of the documents this instance accepted last, by order: delivering an order parses its
 * stored snapshot, and when that is exactly the text intake just parsed, intake's tree is used instead (a
 * parse was 8 % of the CPU per order in the end-to-end benchmark). A parse is reused only for the same
 * text, so another instance's newer snapshot, or one an older event did not replace, is always parsed
 * afresh; parsed documents are never modified. Holds at most {@code maxChars} characters of documents
 * (replaced ones count until they leave); the oldest go first.
 *
 * <p>Without a lock: every worker starts its sync here, and with the lock the workers were seen waiting for it
 * 10–25 ms at half load, several at once (JFR, BENCHMARKS.md issue 18 round eleven).
 */
public final class ParsedDocuments {

    private record Entry(String key, String json, OrderDocument doc) {
    }

    private final DocumentParser parser;
    private final long maxChars;
    private final ConcurrentHashMap<String, Entry> entries = new ConcurrentHashMap<>();
    /** Every entry put, oldest first, until it is evicted: what {@link #chars} counts. */
    private final ConcurrentLinkedQueue<Entry> order = new ConcurrentLinkedQueue<>();
    private final AtomicLong chars = new AtomicLong();

    public ParsedDocuments(DocumentParser parser, long maxChars) {
        this.parser = parser;
        this.maxChars = maxChars;
    }

    /** Remembers a document just accepted with this text. */
    public void remember(OrderDocument doc, String json) {
        // one document may not crowd out all others
        if (json.length() > maxChars / 4) {
            return;
        }
        Entry e = new Entry(key(doc.eventSlug(), doc.orderCode()), json, doc);
        entries.put(e.key(), e);
        order.add(e);
        chars.addAndGet(json.length());
        while (chars.get() > maxChars) {
            Entry oldest = order.poll();
            if (oldest == null) {
                break;
            }
            chars.addAndGet(-oldest.json().length());
            // only if a newer text of the order has not replaced it meanwhile
            entries.remove(oldest.key(), oldest);
        }
    }

    /** The stored snapshot of an order, parsed: the remembered tree when it was parsed from the same text. */
    public OrderDocument parse(String eventSlug, String orderCode, String json) throws InvalidDocumentException {
        Entry e = entries.get(key(eventSlug, orderCode));
        if (e != null && e.json().equals(json)) {
            return e.doc();
        }
        OrderDocument doc = parser.parse(json);
        // other providers of the same order, and the retries, parse it no more
        remember(doc, json);
        return doc;
    }

    /** Characters of documents held now. */
    public long chars() {
        return chars.get();
    }

    private static String key(String eventSlug, String orderCode) {
        return eventSlug + '\n' + orderCode;
    }
}
