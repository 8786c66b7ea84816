package ai.djl.moe.dispatcher;

import ai.djl.ndarray.NDArray;

/** Checks the expert outputs handed to a dispatcher's combine. */
final class ExpertOutputs {

    private ExpertOutputs() {}

    /**
     * Requires {@code [rows, H]}: one output row per dispatched row.
     *
     * @param expertOutput the expert outputs
     * @param rows the rows the dispatcher produced
     * @throws IllegalArgumentException naming the expected shape
     */
    static void requireRows(NDArray expertOutput, long rows) {
        if (expertOutput.getShape().dimension() != 2 || expertOutput.getShape().get(0) != rows) {
            throw new IllegalArgumentException(
                    "expert output must be ["
                            + rows
                            + ", H] (the dispatched rows), got "
                            + expertOutput.getShape());
        }
    }
}
