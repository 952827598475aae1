package io.ordersync.pretix;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * One unit of the pretix routes' work, held by the exchange in {@link #PROPERTY}: a fetch of one order (after
 * a webhook), or the pages of a poll or an import. The routes fill in the orders read and, through the
 * catalogue loop, the names they refer to; {@code accept} takes them in.
 */
public final class PretixWork {

    /** Exchange property holding the work. */
    public static final String PROPERTY = "ordersync.pretix.work";

    public enum Kind { FETCH, POLL, IMPORT }

    final Kind kind;
    /** FETCH: the fetch row; IMPORT: the import row. */
    final long rowId;
    /** FETCH, IMPORT: the event; POLL: the event, or {@code *} for every event of the organizer. */
    final String event;
    /** FETCH: the order code and its trigger type. */
    final String code;
    final String type;
    /** POLL: modified_since of this poll; the X-Page-Generated of its first page becomes the next one. */
    final String since;
    /** FETCH: the row's version and failed attempts when claimed. */
    int version;
    int attempts;
    String pageGenerated;
    /** POLL, IMPORT: the page to read next (an absolute URL from pretix's {@code next}), null when done. */
    String nextUrl;
    int page;
    /** pretix's count of the list being read, and how many results its first page held. */
    Integer total;
    int perPage;
    /** Pages read (a next link pointing back is refused). */
    final Set<String> visited = new HashSet<>();
    /** The orders read by the last request, to be accepted. */
    final List<JsonNode> orders = new ArrayList<>();
    /** Catalogue requests already made for this work (a resource pretix does not have is asked once). */
    final Set<String> asked = new HashSet<>();
    /** The catalogue request in flight: what its answer is. */
    String catalogKind;
    String catalogEvent;
    String catalogId;
    /** A list being read page by page: what was read so far, and the next page. */
    java.util.Map<String, JsonNode> catalogBuilding;
    String catalogBuildingNext;

    private PretixWork(Kind kind, long rowId, String event, String code, String type, String since) {
        this.kind = kind;
        this.rowId = rowId;
        this.event = event;
        this.code = code;
        this.type = type;
        this.since = since;
    }

    static PretixWork fetch(long rowId, String event, String code, String type) {
        return new PretixWork(Kind.FETCH, rowId, event, code, type, null);
    }

    static PretixWork poll(String event, String since, String firstUrl) {
        PretixWork w = new PretixWork(Kind.POLL, 0, event, null, null, since);
        w.nextUrl = firstUrl;
        return w;
    }

    static PretixWork importOf(long rowId, String event, int page, String firstUrl) {
        PretixWork w = new PretixWork(Kind.IMPORT, rowId, event, null, null, null);
        w.page = page;
        w.nextUrl = firstUrl;
        return w;
    }

    /**
     * How many distinct pages this work may read before a chain of next links counts as endless: the pages of
     * pretix's count (in pages of the size it answers with) and {@link PretixSource#MAX_PAGES} more, for catalogue
     * lists and orders that moved while the pages were read. A poll far behind (more than 50 000 changes, after a
     * long outage) reads all of its pages instead of failing at a fixed number and starting over at every poll.
     */
    int pageLimit() {
        if (total == null || perPage <= 0) {
            return PretixSource.MAX_PAGES;
        }
        return (int) Math.min(Integer.MAX_VALUE, PretixSource.MAX_PAGES + ((long) total + perPage - 1) / perPage);
    }

    public Kind kind() {
        return kind;
    }

    @Override
    public String toString() {
        return switch (kind) {
            case FETCH -> "fetch of " + event + "/" + code;
            case POLL -> "poll of " + ("*".equals(event) ? "every event" : event) + " since " + since;
            case IMPORT -> "import #" + rowId + " of " + event + " (page " + page + ")";
        };
    }
}
