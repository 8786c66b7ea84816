package ai.djl.moe.it.notebook;

import jdk.jshell.Diag;
import jdk.jshell.EvalException;
import jdk.jshell.JShell;
import jdk.jshell.JShellException;
import jdk.jshell.Snippet;
import jdk.jshell.SnippetEvent;
import jdk.jshell.SourceCodeAnalysis;
import jdk.jshell.UnresolvedReferenceException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Runs a notebook's code cells in order in a JShell, as the IJava / JJava kernels do, without
 * Jupyter.
 *
 * <p>The JShell uses the {@code local} execution engine: snippets run in this JVM, on classes
 * loaded by a child of the application class loader, so DJL and libtorch's native library are
 * loaded once per JVM as in any test (the default remote engine would start a second JVM per
 * notebook and load libtorch there again). Every entry of the test class path is on the snippets'
 * compile class path, so {@code %maven} lines of this project translate to nothing; {@code %jars}
 * and {@code %classpath} add their entries (see {@link KernelMagics}).
 *
 * <p>Before the first cell the runner defines the kernels' {@code display(Object)}: an image
 * ({@link java.awt.image.RenderedImage}) is written as {@code image-NN.png} into the image folder,
 * anything else is printed. A notebook fails on the first snippet that JShell rejects, leaves with
 * unresolved references or that throws, naming the cell index and line. The last code cell must be
 * the notebook's final assertion cell: it contains {@value #ASSERTION}.
 */
public final class NotebookRunner {

    /** What the last code cell of every notebook contains: it checks the notebook's results. */
    public static final String ASSERTION = "throw new AssertionError";

    private static final String DISPLAY_COUNTER = "int notebookRunnerImages = 0;";

    private static final String DISPLAY =
            "String display(Object value) {\n"
                    + "    if (value instanceof java.awt.image.RenderedImage image) {\n"
                    + "        java.nio.file.Path file = java.nio.file.Path.of(%s)\n"
                    + "                .resolve(String.format(\"image-%%02d.png\","
                    + " ++notebookRunnerImages));\n"
                    + "        try {\n"
                    + "            javax.imageio.ImageIO.write(image, \"png\", file.toFile());\n"
                    + "        } catch (java.io.IOException e) {\n"
                    + "            throw new java.io.UncheckedIOException(e);\n"
                    + "        }\n"
                    + "        return file.toString();\n"
                    + "    }\n"
                    + "    System.out.println(value);\n"
                    + "    return String.valueOf(value);\n"
                    + "}";

    private final List<Path> classPath;
    private final Path imageDir;

    /**
     * Creates a runner.
     *
     * @param classPath the snippets' compile class path (the project's classes and jars)
     * @param imageDir where displayed images are written; created, emptied of earlier PNGs
     */
    public NotebookRunner(List<Path> classPath, Path imageDir) {
        this.classPath = List.copyOf(classPath);
        this.imageDir = imageDir;
    }

    /**
     * Creates a runner with the class path of this JVM.
     *
     * @param imageDir where displayed images are written
     * @return the runner
     * @throws IOException when the class path cannot be read
     */
    public static NotebookRunner withTestClassPath(Path imageDir) throws IOException {
        return new NotebookRunner(TestClassPath.entries(), imageDir);
    }

    /**
     * Runs every code cell of the notebook in order.
     *
     * @param notebook the notebook
     * @return what the notebook produced
     * @throws NotebookFailure when a cell fails or the notebook has no final assertion cell
     * @throws IOException when the image folder cannot be prepared
     */
    public NotebookRun run(Notebook notebook) throws IOException {
        String name = notebook.getFile().getFileName().toString();
        List<NotebookCell> cells = notebook.codeCells();
        if (cells.isEmpty() || !cells.get(cells.size() - 1).source().contains(ASSERTION)) {
            throw new NotebookFailure(
                    name,
                    -1,
                    "the last code cell must check the results (" + ASSERTION + ")",
                    null);
        }
        prepareImageDir();
        long start = System.nanoTime();
        int snippets = 0;
        try (JShell shell = JShell.builder().executionEngine("local").build()) {
            for (Path entry : classPath) {
                shell.addToClasspath(entry.toString());
            }
            String dir = '"' + imageDir.toAbsolutePath().toString().replace("\\", "\\\\") + '"';
            evaluate(shell, name, -1, 1, DISPLAY_COUNTER);
            evaluate(shell, name, -1, 1, String.format(DISPLAY, dir));
            Path notebookDir = notebook.getFile().toAbsolutePath().getParent();
            for (NotebookCell cell : cells) {
                snippets += runCell(shell, name, cell, notebookDir);
            }
        }
        return new NotebookRun(cells.size(), snippets, images(), (System.nanoTime() - start) / 1e9);
    }

    private void prepareImageDir() throws IOException {
        Files.createDirectories(imageDir);
        for (Path old : images()) {
            Files.delete(old);
        }
    }

    private List<Path> images() throws IOException {
        try (Stream<Path> files = Files.list(imageDir)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".png"))
                    .sorted()
                    .collect(Collectors.toList());
        }
    }

    private static int runCell(JShell shell, String name, NotebookCell cell, Path notebookDir)
            throws IOException {
        KernelMagics.TranslatedCell translated;
        try {
            translated = KernelMagics.translate(cell.source(), notebookDir);
        } catch (IllegalArgumentException e) {
            throw new NotebookFailure(name, cell.index(), e.getMessage(), null);
        }
        for (Path entry : translated.classPath()) {
            shell.addToClasspath(entry.toString());
        }
        SourceCodeAnalysis analysis = shell.sourceCodeAnalysis();
        String code = translated.java();
        int offset = 0;
        int snippets = 0;
        while (!code.substring(offset).isBlank()) {
            SourceCodeAnalysis.CompletionInfo info =
                    analysis.analyzeCompletion(code.substring(offset));
            int line = lineOf(code, offset);
            if (info.completeness() == SourceCodeAnalysis.Completeness.EMPTY) {
                break; // only comments are left
            }
            if (!info.completeness().isComplete()) {
                throw new NotebookFailure(
                        name,
                        cell.index(),
                        "line " + line + ": incomplete code: " + firstLine(code, offset),
                        null);
            }
            evaluate(shell, name, cell.index(), line, info.source());
            snippets++;
            offset = code.length() - info.remaining().length();
        }
        return snippets;
    }

    private static void evaluate(
            JShell shell, String name, int cellIndex, int line, String source) {
        for (SnippetEvent event : shell.eval(source)) {
            if (event.causeSnippet() != null) {
                continue;
            }
            Snippet snippet = event.snippet();
            String where = "line " + line + " (" + firstLine(source, 0) + ")";
            if (event.status() == Snippet.Status.REJECTED) {
                List<String> messages = new ArrayList<>();
                shell.diagnostics(snippet)
                        .forEach(d -> messages.add(d.getMessage(null) + position(d, source)));
                throw new NotebookFailure(
                        name, cellIndex, where + " does not compile: " + messages, null);
            }
            if (event.status() == Snippet.Status.RECOVERABLE_DEFINED
                    || event.status() == Snippet.Status.RECOVERABLE_NOT_DEFINED) {
                throw new NotebookFailure(
                        name,
                        cellIndex,
                        where + " refers to undefined names: " + unresolved(shell, snippet),
                        null);
            }
            JShellException thrown = event.exception();
            if (thrown != null) {
                throw new NotebookFailure(
                        name, cellIndex, where + " threw " + describe(thrown), thrown);
            }
        }
    }

    private static String unresolved(JShell shell, Snippet snippet) {
        if (snippet instanceof jdk.jshell.DeclarationSnippet declaration) {
            return shell.unresolvedDependencies(declaration)
                    .collect(Collectors.toList())
                    .toString();
        }
        return "?";
    }

    private static String describe(JShellException thrown) {
        if (thrown instanceof EvalException eval) {
            return eval.getExceptionClassName() + ": " + eval.getMessage();
        }
        if (thrown instanceof UnresolvedReferenceException unresolved) {
            return "an unresolved reference in " + unresolved.getSnippet().source();
        }
        return thrown.toString();
    }

    private static String position(Diag diag, String source) {
        long at = diag.getPosition();
        return at < 0 ? "" : " at line " + lineOf(source, (int) at) + " of the snippet";
    }

    private static int lineOf(String text, int offset) {
        int line = 1;
        int end = offset;
        while (end < text.length() && Character.isWhitespace(text.charAt(end))) {
            end++;
        }
        for (int i = 0; i < end && i < text.length(); i++) {
            if (text.charAt(i) == '\n') {
                line++;
            }
        }
        return line;
    }

    private static String firstLine(String text, int offset) {
        String rest = text.substring(offset).strip();
        int newline = rest.indexOf('\n');
        return newline < 0 ? rest : rest.substring(0, newline) + " ...";
    }
}
