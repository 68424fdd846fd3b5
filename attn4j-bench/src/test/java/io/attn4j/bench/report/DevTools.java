package io.attn4j.bench.report;

import io.attn4j.util.Json;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;

/**
 * One WebSocket to Chromium's DevTools endpoint, speaking the Chrome DevTools Protocol: commands are JSON objects
 * {@code {id, method, params, sessionId}} answered by {@code {id, result}} or {@code {id, error}}; events are
 * {@code {method, params, sessionId}}. Pages are reached through "flat" sessions on this one socket (the
 * {@code sessionId} of {@code Target.attachToTarget}), so no second connection is needed. Every call has a timeout,
 * and once the socket or the browser is gone every pending and later call fails at once with the reason.
 */
final class DevTools implements AutoCloseable {
    private final HttpClient http;
    private final WebSocket socket;
    private final AtomicInteger ids = new AtomicInteger();
    private final Map<Integer, CompletableFuture<Map<String, Object>>> pending = new ConcurrentHashMap<>();
    /** Event listeners by session id ("" for the browser's own session). */
    private final Map<String, BiConsumer<String, Map<String, Object>>> listeners = new ConcurrentHashMap<>();
    private final Object sending = new Object();
    private volatile RuntimeException broken;

    private DevTools(HttpClient http, URI endpoint, Duration timeout) {
        this.http = http;
        try {
            this.socket = http.newWebSocketBuilder()
                    .connectTimeout(timeout)
                    .buildAsync(endpoint, new Receiver())
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            http.close();
            throw new HeadlessBrowser.BrowserException("no WebSocket connection to " + endpoint + " within "
                    + seconds(timeout), e);
        } catch (ExecutionException e) {
            http.close();
            throw new HeadlessBrowser.BrowserException("cannot connect to " + endpoint + ": " + e.getCause(), e);
        } catch (InterruptedException e) {
            http.close();
            Thread.currentThread().interrupt();
            throw new HeadlessBrowser.BrowserException("interrupted while connecting to " + endpoint, e);
        }
    }

    static DevTools connect(URI endpoint, Duration timeout) {
        return new DevTools(HttpClient.newHttpClient(), endpoint, timeout);
    }

    /** Calls {@code listener(method, params)} for each event of {@code sessionId}, on the socket's thread. */
    void listen(String sessionId, BiConsumer<String, Map<String, Object>> listener) {
        listeners.put(sessionId, listener);
    }

    void forget(String sessionId) {
        listeners.remove(sessionId);
    }

    /** Sends a command of the browser session. */
    Map<String, Object> call(String method, Map<String, Object> params, Duration timeout) {
        return call(null, method, params, timeout);
    }

    /**
     * Sends a command and waits for its result.
     *
     * @param sessionId a page session, or {@code null} for the browser
     * @throws HeadlessBrowser.BrowserException an error answer, no answer within {@code timeout}, or a lost browser
     */
    Map<String, Object> call(String sessionId, String method, Map<String, Object> params, Duration timeout) {
        RuntimeException gone = broken;
        if (gone != null) {
            throw new HeadlessBrowser.BrowserException(method + ": " + gone.getMessage(), gone);
        }
        int id = ids.incrementAndGet();
        Map<String, Object> message = Json.object();
        message.put("id", id);
        message.put("method", method);
        message.put("params", params == null ? Json.object() : params);
        if (sessionId != null) {
            message.put("sessionId", sessionId);
        }
        CompletableFuture<Map<String, Object>> answer = new CompletableFuture<>();
        pending.put(id, answer);
        if (broken != null) {
            answer.completeExceptionally(broken); // lost while this call was being made
        }
        try {
            // A WebSocket takes one message at a time: the next send may start only once the last one is done.
            synchronized (sending) {
                socket.sendText(Json.write(message), true).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            }
            return answer.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new HeadlessBrowser.BrowserException("Chromium did not answer " + method + " within "
                    + seconds(timeout), e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            throw new HeadlessBrowser.BrowserException(method + ": " + cause.getMessage(), cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HeadlessBrowser.BrowserException("interrupted while waiting for " + method, e);
        } finally {
            pending.remove(id);
        }
    }

    /** Fails every pending call and every later one with {@code reason} (the browser exited, the socket closed). */
    void fail(String reason) {
        if (broken == null) {
            broken = new HeadlessBrowser.BrowserException(reason);
        }
        for (CompletableFuture<Map<String, Object>> answer : pending.values()) {
            answer.completeExceptionally(broken);
        }
    }

    @Override
    public void close() {
        fail("the DevTools connection is closed");
        socket.abort();
        http.close();
    }

    static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() / 1000.0 + " s";
    }

    @SuppressWarnings("unchecked")
    private void received(String text) {
        Map<String, Object> message;
        try {
            message = (Map<String, Object>) Json.parse(text);
        } catch (RuntimeException e) {
            fail("unreadable DevTools message: " + e.getMessage());
            return;
        }
        Object id = message.get("id");
        if (id instanceof Number n) {
            CompletableFuture<Map<String, Object>> answer = pending.get(n.intValue());
            if (answer == null) {
                return; // an answer that came after its caller gave up
            }
            if (message.get("error") instanceof Map<?, ?> error) {
                answer.completeExceptionally(new HeadlessBrowser.BrowserException(
                        "DevTools error " + (error.get("code") instanceof Number c ? c.longValue() : "?") + ": " + error.get("message")
                                + (error.get("data") == null ? "" : " (" + error.get("data") + ")")));
            } else {
                Object result = message.get("result");
                answer.complete(result instanceof Map<?, ?> m ? (Map<String, Object>) m : Json.object());
            }
            return;
        }
        if (message.get("method") instanceof String method) {
            Object session = message.get("sessionId");
            var listener = listeners.get(session instanceof String s ? s : "");
            if (listener != null) {
                Object params = message.get("params");
                listener.accept(method, params instanceof Map<?, ?> m ? (Map<String, Object>) m : Json.object());
            }
        }
    }

    /** Collects a message's fragments (screenshots arrive in many) and hands over whole messages. */
    private final class Receiver implements WebSocket.Listener {
        private final StringBuilder partial = new StringBuilder();

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                String text = partial.toString();
                partial.setLength(0);
                received(text);
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            fail("the DevTools connection was closed by Chromium (" + statusCode + " " + reason + ")");
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            fail("the DevTools connection failed: " + error);
        }
    }
}
