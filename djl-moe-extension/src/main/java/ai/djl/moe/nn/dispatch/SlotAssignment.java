package ai.djl.moe.nn.dispatch;

import java.util.Arrays;

/**
 * Host-side plan of a single-device dispatch: which (token, choice) slots each expert keeps, in
 * which row of the expert input they land, and which rows are padding.
 *
 * @param rowToToken for each expert-input row, the source token ({@code T} = the zero pad row)
 * @param slotToRow for each slot in {@code [T * k]} order, its row, or the row count if dropped
 * @param rowsPerExpert the rows per expert
 * @param droppedSlots the number of dropped slots
 * @param hasPadding whether some rows are padding
 */
public record SlotAssignment(
        long[] rowToToken,
        long[] slotToRow,
        long[] rowsPerExpert,
        long droppedSlots,
        boolean hasPadding) {

    /**
     * Plans a dispatch.
     *
     * @param expertOfSlot the expert of every slot, {@code [T * k]}
     * @param weightOfSlot the routing weight of every slot (for the probs drop policy), or null to
     *     keep the earliest slots
     * @param numTokens {@code T}
     * @param numExperts {@code E}
     * @param capacity the most slots an expert keeps
     * @param pad whether to pad every expert to {@code capacity} rows
     * @return the plan
     */
    static SlotAssignment plan(
            long[] expertOfSlot,
            float[] weightOfSlot,
            long numTokens,
            int numExperts,
            long capacity,
            boolean pad) {
        int slots = expertOfSlot.length;
        int topK = numTokens == 0 ? 1 : (int) (slots / numTokens);
        int[] start = new int[numExperts + 1];
        for (long e : expertOfSlot) {
            start[(int) e + 1]++;
        }
        for (int e = 0; e < numExperts; e++) {
            start[e + 1] += start[e];
        }
        Integer[] bySlotOrder = new Integer[slots];
        int[] fill = Arrays.copyOf(start, numExperts);
        for (int s = 0; s < slots; s++) {
            bySlotOrder[fill[(int) expertOfSlot[s]]++] = s;
        }
        long[] rowsPerExpert = new long[numExperts];
        long[] slotToRow = new long[slots];
        long[] rowToTokenAll = new long[pad ? (int) (capacity * numExperts) : slots];
        int row = 0;
        long dropped = 0;
        boolean padded = false;
        for (int e = 0; e < numExperts; e++) {
            Integer[] mine = Arrays.copyOfRange(bySlotOrder, start[e], start[e + 1]);
            int keep = (int) Math.min(mine.length, capacity);
            if (keep < mine.length && weightOfSlot != null) {
                Arrays.sort(mine, (a, b) -> Float.compare(weightOfSlot[b], weightOfSlot[a]));
                Arrays.sort(mine, 0, keep);
            }
            for (int i = 0; i < mine.length; i++) {
                if (i < keep) {
                    slotToRow[mine[i]] = row;
                    rowToTokenAll[row++] = mine[i] / topK;
                } else {
                    slotToRow[mine[i]] = -1;
                    dropped++;
                }
            }
            rowsPerExpert[e] = keep;
            if (pad) {
                for (long i = keep; i < capacity; i++) {
                    rowToTokenAll[row++] = numTokens;
                    padded = true;
                }
                rowsPerExpert[e] = capacity;
            }
        }
        for (int s = 0; s < slots; s++) {
            if (slotToRow[s] < 0) {
                slotToRow[s] = row;
            }
        }
        return new SlotAssignment(
                Arrays.copyOf(rowToTokenAll, row), slotToRow, rowsPerExpert, dropped, padded);
    }
}
