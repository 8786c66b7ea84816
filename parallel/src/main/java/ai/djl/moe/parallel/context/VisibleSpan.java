package ai.djl.moe.parallel.context;

import java.util.Arrays;

/**
 * The part of one ring step's score matrix that is not fully masked: the rows (this rank's queries)
 * and columns (a key block) that see each other at all, each a range of whole chunks, and whether
 * the causal (or sliding-window) mask still hides something inside it. Without a window this is
 * Megatron-Core's split: the own block needs all rows and columns and the mask; a block of a lower
 * rank only its first chunk of keys, unmasked; a block of a higher rank only the second chunk of
 * queries, unmasked.
 *
 * @param rowFrom the first query row
 * @param rowTo the end of the query rows ({@code rowFrom} when nothing is visible)
 * @param columnFrom the first key column
 * @param columnTo the end of the key columns
 * @param masked whether some pair inside the span is hidden
 */
record VisibleSpan(int rowFrom, int rowTo, int columnFrom, int columnTo, boolean masked) {

    /**
     * Finds the span of two ranks' chunks.
     *
     * @param queries the query positions: two chunks of {@code chunk} consecutive positions
     * @param keys the key positions: two chunks likewise
     * @param chunk the chunk length
     * @param window the sliding window, 0 for none
     * @return the span
     */
    static VisibleSpan of(long[] queries, long[] keys, int chunk, int window) {
        boolean[] rows = new boolean[2];
        boolean[] columns = new boolean[2];
        for (int a = 0; a < 2; a++) {
            for (int b = 0; b < 2; b++) {
                long nearest = queries[a * chunk] - keys[b * chunk + chunk - 1];
                long farthest = queries[a * chunk + chunk - 1] - keys[b * chunk];
                if (farthest >= 0 && (window == 0 || nearest < window)) {
                    rows[a] = true;
                    columns[b] = true;
                }
            }
        }
        if (!rows[0] && !rows[1]) {
            return new VisibleSpan(0, 0, 0, 0, false);
        }
        int rowFrom = rows[0] ? 0 : chunk;
        int rowTo = rows[1] ? 2 * chunk : chunk;
        int columnFrom = columns[0] ? 0 : chunk;
        int columnTo = columns[1] ? 2 * chunk : chunk;
        boolean masked = false;
        for (int i = rowFrom; i < rowTo && !masked; i++) {
            for (int j = columnFrom; j < columnTo && !masked; j++) {
                long distance = queries[i] - keys[j];
                masked = distance < 0 || (window > 0 && distance >= window);
            }
        }
        return new VisibleSpan(rowFrom, rowTo, columnFrom, columnTo, masked);
    }

    /** Whether no query sees any key of the block. */
    boolean isEmpty() {
        return rowFrom == rowTo;
    }

    /** The query positions of the span's rows. */
    long[] rows(long[] queries) {
        return Arrays.copyOfRange(queries, rowFrom, rowTo);
    }

    /** The key positions of the span's columns. */
    long[] columns(long[] keys) {
        return Arrays.copyOfRange(keys, columnFrom, columnTo);
    }
}
