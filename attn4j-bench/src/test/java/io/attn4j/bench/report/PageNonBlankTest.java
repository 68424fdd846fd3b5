package io.attn4j.bench.report;

import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link Page#nonBlank} on images drawn here: runs without a browser. */
class PageNonBlankTest {
    @Test
    void blankMeansOneColourOrAlmostOnly() throws IOException {
        BufferedImage image = new BufferedImage(200, 100, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 100; y++) {
            for (int x = 0; x < 200; x++) {
                image.setRGB(x, y, 0xffffff);
            }
        }
        assertFalse(Page.nonBlank(png(image)), "white");
        for (int i = 0; i < 10; i++) {
            image.setRGB(i * 3, 7, 0x010101 * (i + 1)); // 10 specks of 10 colours: 0.05 % of the pixels
        }
        assertFalse(Page.nonBlank(png(image)), "white with a few specks");
        for (int y = 20; y < 60; y++) {
            for (int x = 20; x < 180; x++) {
                image.setRGB(x, y, (x * 255 / 200) << 16 | (y * 4) << 8);
            }
        }
        assertTrue(Page.nonBlank(png(image)), "a gradient over a third of it");
        assertThrows(IllegalArgumentException.class, () -> Page.nonBlank(new byte[] {1, 2, 3}));
    }

    private static byte[] png(BufferedImage image) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(image, "png", out);
        return out.toByteArray();
    }
}
