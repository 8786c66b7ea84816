package ai.djl.moe.it.notebook;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;

/** A Jupyter notebook (nbformat 4) read from its {@code .ipynb} JSON. */
public final class Notebook {

    private static final Set<String> CELL_TYPES = Set.of("code", "markdown", "raw");

    private final Path file;
    private final String language;
    private final List<NotebookCell> cells;

    private Notebook(Path file, String language, List<NotebookCell> cells) {
        this.file = file;
        this.language = language;
        this.cells = cells;
    }

    /**
     * Reads and checks a notebook: nbformat 4, a {@code cells} array, every cell with a known
     * {@code cell_type} and a {@code source} (a string or a list of strings), code cells with
     * {@code outputs} and {@code execution_count}.
     *
     * @param file the {@code .ipynb} file
     * @return the notebook
     * @throws IOException when the file cannot be read
     * @throws IllegalArgumentException when the file is not a valid nbformat 4 notebook, naming the
     *     problem
     */
    public static Notebook read(Path file) throws IOException {
        JsonObject root;
        try {
            JsonElement parsed =
                    JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8));
            if (!parsed.isJsonObject()) {
                throw new IllegalArgumentException(file + ": a notebook is a JSON object");
            }
            root = parsed.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(file + ": not JSON: " + e.getMessage(), e);
        }
        if (!root.has("nbformat") || root.get("nbformat").getAsInt() != 4) {
            throw new IllegalArgumentException(file + ": nbformat must be 4");
        }
        if (!root.has("nbformat_minor") || !root.has("metadata") || !root.has("cells")) {
            throw new IllegalArgumentException(
                    file + ": nbformat 4 needs nbformat_minor, metadata and cells");
        }
        JsonArray array = root.getAsJsonArray("cells");
        List<NotebookCell> cells = new ArrayList<>();
        for (int i = 0; i < array.size(); i++) {
            cells.add(cell(file, i, array.get(i).getAsJsonObject()));
        }
        return new Notebook(file, language(root.getAsJsonObject("metadata")), cells);
    }

    private static NotebookCell cell(Path file, int index, JsonObject cell) {
        String type = cell.has("cell_type") ? cell.get("cell_type").getAsString() : null;
        if (!CELL_TYPES.contains(type)) {
            throw new IllegalArgumentException(file + ": cell " + index + " has cell_type " + type);
        }
        if (!cell.has("source") || !cell.has("metadata")) {
            throw new IllegalArgumentException(
                    file + ": cell " + index + " needs source and metadata");
        }
        boolean cleared = true;
        if ("code".equals(type)) {
            if (!cell.has("outputs") || !cell.has("execution_count")) {
                throw new IllegalArgumentException(
                        file + ": code cell " + index + " needs outputs and execution_count");
            }
            cleared =
                    cell.getAsJsonArray("outputs").isEmpty()
                            && cell.get("execution_count").isJsonNull();
        }
        return new NotebookCell(index, type, source(cell.get("source")), cleared);
    }

    private static String source(JsonElement source) {
        if (source.isJsonPrimitive()) {
            return source.getAsString();
        }
        StringBuilder text = new StringBuilder();
        for (JsonElement line : source.getAsJsonArray()) {
            text.append(line.getAsString());
        }
        return text.toString();
    }

    private static String language(JsonObject metadata) {
        if (metadata.has("kernelspec")) {
            JsonObject kernel = metadata.getAsJsonObject("kernelspec");
            if (kernel.has("language")) {
                return kernel.get("language").getAsString();
            }
        }
        return null;
    }

    /**
     * Returns the file the notebook was read from.
     *
     * @return the path
     */
    public Path getFile() {
        return file;
    }

    /**
     * Returns the language of the notebook's kernel ({@code metadata.kernelspec.language}).
     *
     * @return the language, or null when the notebook names no kernel
     */
    public String getLanguage() {
        return language;
    }

    /**
     * Returns every cell in order.
     *
     * @return the cells
     */
    public List<NotebookCell> getCells() {
        return Collections.unmodifiableList(cells);
    }

    /**
     * Returns the code cells in order.
     *
     * @return the code cells
     */
    public List<NotebookCell> codeCells() {
        List<NotebookCell> code = new ArrayList<>();
        for (NotebookCell cell : cells) {
            if (cell.isCode()) {
                code.add(cell);
            }
        }
        return code;
    }
}
