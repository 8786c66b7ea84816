package ai.djl.moe.it.notebook;

import java.nio.file.Path;
import java.util.List;

/**
 * What a notebook produced when it ran through.
 *
 * @param codeCells the code cells executed
 * @param snippets the JShell snippets evaluated
 * @param images the PNG files written by {@code display(image)}, in display order
 * @param seconds the wall-clock time of the run
 */
public record NotebookRun(int codeCells, int snippets, List<Path> images, double seconds) {}
