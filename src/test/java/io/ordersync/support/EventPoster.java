package io.ordersync.support;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** Posts order documents to ordersync's {@code POST /api/events} from eight threads at once, as a busy shop does. */
public final class EventPoster {

    private EventPoster() {
    }

    /** Posts each document to {@code eventsUrl} and returns the status codes, in the documents' order. */
    public static List<Integer> postAll(String eventsUrl, List<ObjectNode> docs) {
        HttpClient http = HttpClient.newHttpClient();
        ExecutorService posters = Executors.newFixedThreadPool(8);
        try {
            List<CompletableFuture<Integer>> posts = new ArrayList<>();
            for (ObjectNode doc : docs) {
                HttpRequest post = HttpRequest.newBuilder(URI.create(eventsUrl))
                        .header("Authorization", "Bearer " + OrdersyncApp.ADMIN_TOKEN)
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(doc.toString())).build();
                posts.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        return http.send(post, HttpResponse.BodyHandlers.discarding()).statusCode();
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, posters));
            }
            return posts.stream().map(CompletableFuture::join).toList();
        } finally {
            posters.shutdownNow();
        }
    }
}
