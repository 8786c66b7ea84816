package ai.djl.moe.dispatcher;

/**
 * Reorders rows that arrive as chunks {@code (source, local expert)} (sources outer) into expert
 * order {@code (local expert, source)}, as the grouped experts need them.
 */
final class ChunkSort {

    private ChunkSort() {}

    /**
     * Returns, for each row of the expert-sorted layout, its row in arrival order.
     *
     * @param counts {@code counts[source * experts + expert]}: rows of each chunk
     * @param experts the local experts
     * @return the gather index into the arrival order
     */
    static long[] sortIndex(long[] counts, int experts) {
        int sources = counts.length / experts;
        long[] start = new long[counts.length];
        long total = 0;
        for (int c = 0; c < counts.length; c++) {
            start[c] = total;
            total += counts[c];
        }
        long[] index = new long[(int) total];
        int row = 0;
        for (int e = 0; e < experts; e++) {
            for (int s = 0; s < sources; s++) {
                int chunk = s * experts + e;
                for (long i = 0; i < counts[chunk]; i++) {
                    index[row++] = start[chunk] + i;
                }
            }
        }
        return index;
    }

    /**
     * Inverts a permutation.
     *
     * @param permutation a permutation of {@code 0..n-1}
     * @return its inverse
     */
    static long[] invert(long[] permutation) {
        long[] inverse = new long[permutation.length];
        for (int i = 0; i < permutation.length; i++) {
            inverse[(int) permutation[i]] = i;
        }
        return inverse;
    }

    /**
     * Sums the rows of each local expert over all sources.
     *
     * @param counts {@code counts[source * experts + expert]}
     * @param experts the local experts
     * @return rows per local expert
     */
    static long[] rowsPerExpert(long[] counts, int experts) {
        long[] rows = new long[experts];
        for (int c = 0; c < counts.length; c++) {
            rows[c % experts] += counts[c];
        }
        return rows;
    }

    /**
     * Sums consecutive blocks of counts.
     *
     * @param counts the counts
     * @param blocks the number of equal blocks
     * @return the sum of each block
     */
    static long[] blockSums(long[] counts, int blocks) {
        int width = counts.length / blocks;
        long[] sums = new long[blocks];
        for (int c = 0; c < counts.length; c++) {
            sums[c / width] += counts[c];
        }
        return sums;
    }
}
