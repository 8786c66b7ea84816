package ai.djl.moe.it.notebook;

import static org.testng.Assert.assertEquals;
import static org.testng.Assert.assertTrue;

import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The notebooks as committed: valid nbformat 4 for a Java kernel, outputs cleared, the project's
 * {@code %maven} coordinates, a markdown title, a final assertion cell, and every one of them
 * executed by {@link NotebookExecutionTest}.
 */
public class NotebookFormatTest {

    private static final Pattern DEFAULT_DIR = Pattern.compile("defaultDir = \"([^\"]+)\"");

    @Test
    public void everyNotebookIsExecutedInCi() throws IOException {
        TreeSet<String> present;
        try (Stream<Path> files = Files.list(NotebookExecutionTest.notebooks())) {
            present =
                    files.map(p -> p.getFileName().toString())
                            .filter(n -> n.endsWith(".ipynb"))
                            .collect(Collectors.toCollection(TreeSet::new));
        }
        assertEquals(present, new TreeSet<>(NotebookExecutionTest.NOTEBOOKS));
    }

    @Test
    public void notebooksAreClearedAndFollowTheConventions() throws IOException {
        String maven = "%maven ai.djl.moe:examples:" + System.getProperty("djl.moe.version");
        for (String name : NotebookExecutionTest.NOTEBOOKS) {
            Notebook notebook = Notebook.read(NotebookExecutionTest.notebooks().resolve(name));
            assertEquals(notebook.getLanguage(), "java", name + ": kernelspec language");
            for (NotebookCell cell : notebook.getCells()) {
                assertTrue(
                        cell.cleared(),
                        name + ", cell " + cell.index() + " has outputs or an execution count");
            }
            NotebookCell title = notebook.getCells().get(0);
            assertTrue(
                    !title.isCode() && title.source().startsWith("# "),
                    name + " starts with a markdown title");
            List<NotebookCell> code = notebook.codeCells();
            assertEquals(
                    code.get(0).source().strip(),
                    maven,
                    name + ": the first code cell brings the project");
            assertTrue(
                    code.get(code.size() - 1).source().contains(NotebookRunner.ASSERTION),
                    name + ": the last code cell checks the results");
            long markdown = notebook.getCells().size() - code.size();
            assertTrue(
                    markdown >= code.size() / 2,
                    name
                            + ": "
                            + markdown
                            + " markdown cells explain "
                            + code.size()
                            + " code cells");
        }
    }

    @Test
    public void theDefaultCheckpointOfNotebook04Exists() throws IOException {
        Path file = NotebookExecutionTest.notebooks().resolve("04-load-hf-checkpoint.ipynb");
        Path dir = null;
        for (NotebookCell cell : Notebook.read(file).codeCells()) {
            Matcher matcher = DEFAULT_DIR.matcher(cell.source());
            if (matcher.find()) {
                dir = file.getParent().resolve(matcher.group(1)).normalize();
            }
        }
        assertTrue(dir != null, "notebook 04 names its default directory");
        for (String needed :
                List.of(
                        "config.json",
                        "model.safetensors",
                        "tokenizer.json",
                        "expected.safetensors")) {
            assertTrue(
                    Files.isRegularFile(dir.resolve(needed)), dir.resolve(needed) + " is missing");
        }
    }
}
