package ai.djl.moe.it.notebook;

import static org.testng.Assert.assertEquals;
import static org.testng.Assert.assertTrue;
import static org.testng.Assert.expectThrows;

import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;

import org.testng.annotations.Test;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

/** The notebook runner on small notebooks: what it translates, and how it reports failures. */
public class NotebookRunnerTest {

    private static final String CHECK = "if (1 < 0) { throw new AssertionError(\"never\"); }";

    @Test
    public void runsCellsInOrderWithMagicsAndDisplay() throws Exception {
        Path dir = Files.createTempDirectory("notebook-magics");
        compile(
                dir.resolve("classes"),
                "Hello",
                "package demo; public class Hello { public static String word() { return \"hello\";"
                    + " } }");
        Path worldClasses = dir.resolve("world-classes");
        compile(
                worldClasses,
                "World",
                "package demo; public class World { public static String word() { return \"world\";"
                    + " } }");
        Files.createDirectories(dir.resolve("lib"));
        jar(worldClasses, "demo/World.class", dir.resolve("lib").resolve("world.jar"));
        Path notebook =
                write(
                        dir,
                        "# A notebook",
                        "%maven ai.djl.moe:examples:0.1.0-SNAPSHOT\n%classpath classes",
                        "%jars lib/*.jar",
                        "String greeting = demo.Hello.word() + \" \" + demo.World.word();\n"
                                + "var image = new java.awt.image.BufferedImage(64, 32,"
                                + " java.awt.image.BufferedImage.TYPE_INT_RGB);\n"
                                + "display(image);\n"
                                + "display(greeting);",
                        "if (!greeting.equals(\"hello world\")) {\n"
                                + "    throw new AssertionError(greeting);\n}");
        NotebookRun run = runner(dir).run(Notebook.read(notebook));
        assertEquals(run.codeCells(), 4);
        assertEquals(run.images().size(), 1, "the image, not the string");
        assertTrue(Files.size(run.images().get(0)) > 0);
    }

    @Test
    public void anExceptionNamesTheCellAndLine() throws Exception {
        Path dir = Files.createTempDirectory("notebook-throws");
        Path notebook =
                write(
                        dir,
                        "# Title",
                        "int a = 1;",
                        "int b = 2;\n\nint c = Integer.parseInt(\"x\");",
                        CHECK);
        NotebookFailure failure =
                expectThrows(NotebookFailure.class, () -> runner(dir).run(Notebook.read(notebook)));
        assertEquals(failure.getCellIndex(), 2);
        assertTrue(failure.getMessage().contains("line 3"), failure.getMessage());
        assertTrue(failure.getMessage().contains("NumberFormatException"), failure.getMessage());
    }

    @Test
    public void compileErrorsAndUndefinedNamesFail() throws Exception {
        Path dir = Files.createTempDirectory("notebook-rejected");
        Path rejected = write(dir, "int x = \"text\";", CHECK);
        NotebookFailure failure =
                expectThrows(NotebookFailure.class, () -> runner(dir).run(Notebook.read(rejected)));
        assertEquals(failure.getCellIndex(), 0);
        assertTrue(failure.getMessage().contains("does not compile"), failure.getMessage());
        Path undefined = write(dir, "void f() { notDefinedAnywhere(); }", CHECK);
        failure =
                expectThrows(
                        NotebookFailure.class, () -> runner(dir).run(Notebook.read(undefined)));
        assertTrue(failure.getMessage().contains("notDefinedAnywhere"), failure.getMessage());
        Path incomplete = write(dir, "int y = (1 +", CHECK);
        failure =
                expectThrows(
                        NotebookFailure.class, () -> runner(dir).run(Notebook.read(incomplete)));
        assertTrue(failure.getMessage().contains("incomplete"), failure.getMessage());
    }

    @Test
    public void theFinalAssertionCellDecides() throws Exception {
        Path dir = Files.createTempDirectory("notebook-assertion");
        Path wrong =
                write(
                        dir,
                        "int result = 41;",
                        "if (result != 42) {\n"
                            + "    throw new AssertionError(\"result \" + result);\n"
                            + "}");
        NotebookFailure failure =
                expectThrows(NotebookFailure.class, () -> runner(dir).run(Notebook.read(wrong)));
        assertEquals(failure.getCellIndex(), 1);
        assertTrue(
                failure.getMessage().contains("AssertionError: result 41"), failure.getMessage());
        Path unchecked = write(dir, "int result = 42;", "System.out.println(result);");
        failure =
                expectThrows(
                        NotebookFailure.class, () -> runner(dir).run(Notebook.read(unchecked)));
        assertEquals(failure.getCellIndex(), -1);
        assertTrue(failure.getMessage().contains("last code cell"), failure.getMessage());
    }

    @Test
    public void unknownMagicsAndMissingJarsFail() throws Exception {
        Path dir = Files.createTempDirectory("notebook-bad-magic");
        for (String[] bad :
                new String[][] {
                    {"%load setup.jsh", "unknown magic %load"},
                    {"%jars missing/*.jar", "matches no jar"},
                    {"%classpath no-such-folder", "matches no file or folder"},
                    {"%maven not-coordinates", "group:artifact:version"},
                    {"%%time\nint z = 1;", "cell magic"}
                }) {
            Path notebook = write(dir, bad[0], CHECK);
            NotebookFailure failure =
                    expectThrows(
                            NotebookFailure.class, () -> runner(dir).run(Notebook.read(notebook)));
            assertEquals(failure.getCellIndex(), 0, bad[0]);
            assertTrue(failure.getMessage().contains(bad[1]), failure.getMessage());
        }
    }

    @Test
    public void malformedNotebooksAreRefused() throws Exception {
        Path dir = Files.createTempDirectory("notebook-malformed");
        Path notJson = dir.resolve("a.ipynb");
        Files.writeString(notJson, "{ not json");
        expectThrows(IllegalArgumentException.class, () -> Notebook.read(notJson));
        Path oldFormat = dir.resolve("b.ipynb");
        Files.writeString(
                oldFormat,
                "{\"nbformat\": 3, \"nbformat_minor\": 0, \"metadata\": {}, \"cells\": []}");
        IllegalArgumentException e =
                expectThrows(IllegalArgumentException.class, () -> Notebook.read(oldFormat));
        assertTrue(e.getMessage().contains("nbformat must be 4"), e.getMessage());
    }

    private static NotebookRunner runner(Path dir) throws IOException {
        return NotebookRunner.withTestClassPath(dir.resolve("images"));
    }

    /** Writes a notebook: sources starting with "# " become markdown cells, the others code. */
    static Path write(Path dir, String... sources) throws IOException {
        JsonArray cells = new JsonArray();
        for (String source : sources) {
            JsonObject cell = new JsonObject();
            boolean markdown = source.startsWith("# ");
            cell.addProperty("cell_type", markdown ? "markdown" : "code");
            cell.add("metadata", new JsonObject());
            cell.addProperty("source", source);
            if (!markdown) {
                cell.add("outputs", new JsonArray());
                cell.add("execution_count", JsonNull.INSTANCE);
            }
            cells.add(cell);
        }
        JsonObject notebook = new JsonObject();
        notebook.add("cells", cells);
        notebook.add("metadata", new JsonObject());
        notebook.addProperty("nbformat", 4);
        notebook.addProperty("nbformat_minor", 4);
        Path file = Files.createTempFile(dir, "test", ".ipynb");
        Files.writeString(file, notebook.toString());
        return file;
    }

    private static void compile(Path out, String name, String source) throws IOException {
        Path src = Files.createDirectories(out.resolveSibling(out.getFileName() + "-src"));
        Path file = src.resolve(name + ".java");
        Files.writeString(file, source);
        Files.createDirectories(out);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        int code = javac.run(null, null, null, "-d", out.toString(), file.toString());
        assertEquals(code, 0, "javac " + name);
    }

    private static void jar(Path classes, String entry, Path jar) throws IOException {
        try (OutputStream out = Files.newOutputStream(jar);
                JarOutputStream jarOut = new JarOutputStream(out)) {
            jarOut.putNextEntry(new JarEntry(entry));
            jarOut.write(Files.readAllBytes(classes.resolve(entry)));
            jarOut.closeEntry();
        }
    }
}
