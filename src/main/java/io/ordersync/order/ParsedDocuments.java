package io.ordersync.order;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The parsed form of the documents this instance accepted last, by order: delivering an order parses its
 * stored snapshot, and when that is exactly the text intake just parsed, intake's tree is used instead (a
 * parse was 8 % of the CPU per order in the end-to-end benchmark). A parse is reused only for the same
 * text, so another instance's newer snapshot, or one an older event did not replace, is always parsed
 * afresh; parsed documents are never modified. Holds at most {@code maxChars} characters of documents,
 * the least recently used go first.
 */
public final class ParsedDocuments {

    private record Entry(String json, OrderDocument doc) {
    }

    private final DocumentParser parser;
    private final long maxChars;
    private final LinkedHashMap<String, Entry> entries = new LinkedHashMap<>(64, 0.75f, true);
    private long chars;

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
        synchronized (this) {
            Entry old = entries.put(key(doc.eventSlug(), doc.orderCode()), new Entry(json, doc));
            chars += json.length() - (old == null ? 0 : old.json().length());
            for (Iterator<Map.Entry<String, Entry>> it = entries.entrySet().iterator(); chars > maxChars && it.hasNext(); ) {
                chars -= it.next().getValue().json().length();
                it.remove();
            }
        }
    }

    /** The stored snapshot of an order, parsed: the remembered tree when it was parsed from the same text. */
    public OrderDocument parse(String eventSlug, String orderCode, String json) throws InvalidDocumentException {
        Entry e;
        synchronized (this) {
            e = entries.get(key(eventSlug, orderCode));
        }
        if (e != null && e.json().equals(json)) {
            return e.doc();
        }
        OrderDocument doc = parser.parse(json);
        // other providers of the same order, and the retries, parse it no more
        remember(doc, json);
        return doc;
    }

    /** Characters of documents held now. */
    public synchronized long chars() {
        return chars;
    }

    private static String key(String eventSlug, String orderCode) {
        return eventSlug + '\n' + orderCode;
    }
}
