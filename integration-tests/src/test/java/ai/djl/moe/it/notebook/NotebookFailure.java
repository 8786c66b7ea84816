package ai.djl.moe.it.notebook;

/**
 * A notebook that did not run through: which cell (its index in the notebook, markdown cells
 * counted, as Jupyter numbers them from 0), which line of the cell, and why.
 */
public final class NotebookFailure extends AssertionError {

    private static final long serialVersionUID = 1L;

    private final int cellIndex;

    /**
     * Creates a failure.
     *
     * @param notebook the notebook's file name
     * @param cellIndex the cell's index, or -1 when the notebook as a whole is wrong
     * @param reason what went wrong, with the line where there is one
     * @param cause the exception the cell threw, or null
     */
    NotebookFailure(String notebook, int cellIndex, String reason, Throwable cause) {
        super(notebook + (cellIndex < 0 ? "" : ", cell " + cellIndex) + ": " + reason, cause);
        this.cellIndex = cellIndex;
    }

    /**
     * Returns the index of the cell that failed.
     *
     * @return the index, or -1 when the notebook as a whole is wrong
     */
    public int getCellIndex() {
        return cellIndex;
    }
}
