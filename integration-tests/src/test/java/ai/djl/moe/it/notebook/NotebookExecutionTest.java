package ai.djl.moe.it.notebook;

import static org.testng.Assert.assertEquals;
import static org.testng.Assert.assertNotNull;
import static org.testng.Assert.assertTrue;

import org.testng.annotations.Test;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Executes every notebook of {@code examples/notebooks} through {@link NotebookRunner} (what CI
 * runs instead of {@code jupyter nbconvert --execute}): each must run through, pass its final
 * assertion cell and display the expected number of images, each a non-empty PNG.
 */
public class NotebookExecutionTest {

    /** The 8-byte signature every PNG file starts with. */
    private static final byte[] PNG_SIGNATURE = {
        (byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
    };

    /** Smaller than any chart the notebooks draw (an empty 800 x 400 chart is about 10 kB). */
    private static final long MIN_PNG_BYTES = 2_000;

    /** Every notebook of {@code examples/notebooks}, in the order a reader takes them. */
    static final List<String> NOTEBOOKS =
            List.of(
                    "01-moe-layer.ipynb",
                    "02-train-mixtral-tiny.ipynb",
                    "03-parallel-folding.ipynb",
                    "04-load-hf-checkpoint.ipynb");

    /** The system property notebook 04 reads its Hugging Face directory from. */
    private static final String HF_DIR = "djl.moe.hf.dir";

    static Path notebooks() {
        String dir = System.getProperty("djl.moe.notebooks");
        if (dir == null) {
            throw new IllegalStateException(
                    "Set the system property djl.moe.notebooks (the pom sets it for surefire)");
        }
        return Path.of(dir);
    }

    @Test(priority = 1, timeOut = 300_000)
    public void moeLayer() throws IOException {
        run("01-moe-layer.ipynb", 1);
    }

    @Test(priority = 2, timeOut = 300_000)
    public void trainMixtralTiny() throws IOException {
        run("02-train-mixtral-tiny.ipynb", 1);
    }

    @Test(priority = 3, timeOut = 300_000)
    public void parallelFolding() throws IOException {
        run("03-parallel-folding.ipynb", 2);
    }

    @Test(priority = 4, timeOut = 300_000)
    public void loadHfCheckpoint() throws IOException, URISyntaxException {
        URL fixture = NotebookExecutionTest.class.getResource("/hf/tiny-mixtral/config.json");
        assertNotNull(fixture, "test resource hf/tiny-mixtral");
        String previous =
                System.setProperty(HF_DIR, Path.of(fixture.toURI()).getParent().toString());
        try {
            run("04-load-hf-checkpoint.ipynb", 0);
        } finally {
            if (previous == null) {
                System.clearProperty(HF_DIR);
            } else {
                System.setProperty(HF_DIR, previous);
            }
        }
    }

    private static NotebookRun run(String name, int images) throws IOException {
        Path imageDir = Path.of("target", "notebook-images", name.replace(".ipynb", ""));
        NotebookRun run =
                NotebookRunner.withTestClassPath(imageDir)
                        .run(Notebook.read(notebooks().resolve(name)));
        System.out.printf(
                "%s: %d code cells, %d snippets, %d images in %.1f s%n",
                name, run.codeCells(), run.snippets(), run.images().size(), run.seconds());
        assertEquals(run.images().size(), images, "displayed images " + run.images());
        for (Path png : run.images()) {
            byte[] bytes = Files.readAllBytes(png);
            assertTrue(bytes.length > MIN_PNG_BYTES, png + " has only " + bytes.length + " bytes");
            assertEquals(
                    Arrays.copyOf(bytes, PNG_SIGNATURE.length), PNG_SIGNATURE, png + " is no PNG");
        }
        return run;
    }
}
