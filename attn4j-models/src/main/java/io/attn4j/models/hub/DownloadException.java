package io.attn4j.models.hub;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;

/**
 * A download failed: no network, an HTTP error, a body cut short or a digest that does not match. The message says
 * what failed, for which URL, and where to put the file by hand (the target path) to do without the network.
 */
public class DownloadException extends IOException {
    private final URI url;
    private final Path target;

    public DownloadException(URI url, Path target, String message, Throwable cause) {
        super(message, cause);
        this.url = url;
        this.target = target;
    }

    /** The URL that was fetched. */
    public URI url() {
        return url;
    }

    /** Where the file was to be stored, and where a copy placed by hand is picked up. */
    public Path target() {
        return target;
    }
}
