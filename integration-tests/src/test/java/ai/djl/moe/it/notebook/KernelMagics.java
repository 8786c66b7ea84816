package ai.djl.moe.it.notebook;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Translates the line magics of the IJava / JJava kernels for a JShell that already has the
 * project's class path: {@code %maven group:artifact:version} becomes nothing (checked to be
 * coordinates), {@code %jars} and {@code %classpath} become class path entries (paths relative to
 * the notebook's folder, as the kernel's working directory is; a glob such as {@code *.jar} in the
 * last path element). Any other magic, and every cell magic ({@code %%...}), is refused.
 */
final class KernelMagics {

    private static final Pattern COORDINATES = Pattern.compile("[\\w.\\-]+(:[\\w.\\-]+){2,4}");

    private KernelMagics() {}

    /**
     * The Java code of a cell with its magic lines blanked (line numbers stay those of the cell),
     * and the class path entries the magics asked for.
     *
     * @param java the cell's Java source
     * @param classPath the entries to add, in order
     */
    record TranslatedCell(String java, List<Path> classPath) {}

    /**
     * Translates the magics of one code cell.
     *
     * @param source the cell's text
     * @param notebookDir the folder of the notebook, against which relative paths resolve
     * @return the Java code and the class path entries
     * @throws IllegalArgumentException for an unknown or malformed magic, or a path that matches
     *     nothing
     * @throws IOException when a folder cannot be listed
     */
    static TranslatedCell translate(String source, Path notebookDir) throws IOException {
        List<Path> classPath = new ArrayList<>();
        StringBuilder java = new StringBuilder();
        String[] lines = source.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].strip();
            if (line.startsWith("%%")) {
                throw new IllegalArgumentException(
                        "line " + (i + 1) + ": cell magic " + line + " is not supported");
            }
            if (line.startsWith("%")) {
                classPath.addAll(magic(line, i + 1, notebookDir));
            } else {
                java.append(lines[i]);
            }
            if (i + 1 < lines.length) {
                java.append('\n');
            }
        }
        return new TranslatedCell(java.toString(), classPath);
    }

    private static List<Path> magic(String line, int lineNumber, Path notebookDir)
            throws IOException {
        String[] words = line.substring(1).strip().split("\\s+");
        String name = words[0];
        List<Path> entries = new ArrayList<>();
        if (words.length < 2) {
            throw new IllegalArgumentException(
                    "line " + lineNumber + ": %" + name + " needs an argument");
        }
        for (int w = 1; w < words.length; w++) {
            String argument = words[w];
            switch (name) {
                case "maven" -> {
                    if (!COORDINATES.matcher(argument).matches()) {
                        throw new IllegalArgumentException(
                                "line "
                                        + lineNumber
                                        + ": %maven "
                                        + argument
                                        + " is not group:artifact:version");
                    }
                }
                case "jars" -> entries.addAll(matching(argument, notebookDir, true, lineNumber));
                case "classpath" ->
                        entries.addAll(matching(argument, notebookDir, false, lineNumber));
                default ->
                        throw new IllegalArgumentException(
                                "line " + lineNumber + ": unknown magic %" + name);
            }
        }
        return entries;
    }

    private static List<Path> matching(
            String argument, Path notebookDir, boolean jarsOnly, int lineNumber)
            throws IOException {
        Path path = notebookDir.resolve(argument).normalize();
        List<Path> found = new ArrayList<>();
        String last = path.getFileName() == null ? "" : path.getFileName().toString();
        if (last.matches(".*[*?\\[{].*")) {
            Path dir = path.getParent();
            if (dir != null && Files.isDirectory(dir)) {
                try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, last)) {
                    files.forEach(found::add);
                }
            }
            found.sort(null);
        } else if (Files.exists(path)) {
            found.add(path);
        }
        if (jarsOnly) {
            found.removeIf(p -> !p.getFileName().toString().endsWith(".jar"));
        }
        if (found.isEmpty()) {
            throw new IllegalArgumentException(
                    "line "
                            + lineNumber
                            + ": "
                            + argument
                            + " matches no "
                            + (jarsOnly ? "jar" : "file or folder")
                            + " (looked for "
                            + path
                            + ")");
        }
        return found;
    }
}
