package ai.djl.moe.examples.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A text as byte-level tokens (vocabulary 256), cut into overlapping training windows. */
public final class ByteCorpus {

    /** The vocabulary size of byte-level tokens. */
    public static final int VOCAB_SIZE = 256;

    private static final String EMBEDDED = "/ai/djl/moe/examples/corpus.txt";

    private final byte[] bytes;

    private ByteCorpus(byte[] bytes) {
        if (bytes.length < 2) {
            throw new IllegalArgumentException("The training text needs at least 2 bytes");
        }
        this.bytes = bytes;
    }

    /**
     * Returns the text shipped with djl-moe (a few pages on Mixture-of-Experts training).
     *
     * @return the embedded corpus
     */
    public static ByteCorpus embedded() {
        try (InputStream is = ByteCorpus.class.getResourceAsStream(EMBEDDED)) {
            if (is == null) {
                throw new IllegalStateException("Missing resource " + EMBEDDED);
            }
            return new ByteCorpus(is.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Reads a text file as bytes.
     *
     * @param file the file
     * @return the corpus
     * @throws IOException when the file cannot be read
     */
    public static ByteCorpus of(Path file) throws IOException {
        return new ByteCorpus(Files.readAllBytes(file));
    }

    /**
     * Returns the number of tokens.
     *
     * @return the length in bytes
     */
    public int size() {
        return bytes.length;
    }

    /**
     * Cuts the text into windows of {@code length} tokens starting every {@code stride} tokens.
     *
     * @param manager the manager of the result
     * @param length tokens per window
     * @param stride distance between window starts
     * @return int64 token ids {@code [windows, length]}
     */
    public NDArray windows(NDManager manager, int length, int stride) {
        if (length < 2 || length > bytes.length) {
            throw new IllegalArgumentException(
                    "Window length " + length + " must be in [2, " + bytes.length + "]");
        }
        if (stride < 1) {
            throw new IllegalArgumentException("Stride must be positive, got " + stride);
        }
        int count = (bytes.length - length) / stride + 1;
        long[] ids = new long[count * length];
        for (int w = 0; w < count; w++) {
            for (int i = 0; i < length; i++) {
                ids[w * length + i] = bytes[w * stride + i] & 0xFF;
            }
        }
        return manager.create(ids, new Shape(count, length));
    }
}
