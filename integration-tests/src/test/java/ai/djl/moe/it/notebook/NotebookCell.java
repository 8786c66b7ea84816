package ai.djl.moe.it.notebook;

/**
 * One cell of a notebook.
 *
 * @param index the cell's position in the notebook, from 0 (markdown cells counted)
 * @param type the cell type: {@code code}, {@code markdown} or {@code raw}
 * @param source the cell's text
 * @param cleared whether the cell carries no outputs and no execution count
 */
public record NotebookCell(int index, String type, String source, boolean cleared) {

    /**
     * Returns whether this is a code cell.
     *
     * @return true for {@code code}
     */
    public boolean isCode() {
        return "code".equals(type);
    }
}
