package ai.djl.moe.parallel.comm.nccl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

class NcclLibraryLocatorTest {

    @TempDir Path temp;

    private Path fakeLibrary(String folder) throws IOException {
        Path dir = Files.createDirectories(temp.resolve(folder));
        return Files.createFile(dir.resolve(NcclLibraryLocator.FILE_NAME));
    }

    @Test
    void notFoundNamesEveryPlaceSearched() {
        Path torchLib = temp.resolve("site-packages/torch/lib");
        NcclLibraryLocator locator =
                new NcclLibraryLocator(
                        null,
                        List.of(torchLib.resolve("libtorch_cpu.so")),
                        Map.of("LD_LIBRARY_PATH", temp.resolve("a") + ":" + temp.resolve("b")),
                        List.of(temp.resolve("system")));
        NcclException e = assertThrows(NcclException.class, locator::locate);
        String message = e.getMessage();
        assertTrue(message.startsWith("libnccl.so.2 not found"), message);
        for (Path folder :
                List.of(
                        torchLib,
                        temp.resolve("site-packages/nvidia/nccl/lib"),
                        temp.resolve("a"),
                        temp.resolve("b"),
                        temp.resolve("system"))) {
            assertTrue(message.contains(folder.toString()), folder + " missing in: " + message);
        }
        assertTrue(message.contains(NcclLibraryLocator.PROPERTY), message);
        assertTrue(message.contains(NcclLibraryLocator.ENV), message);
    }

    @Test
    void findsNcclOfThePythonPackageBesideTorch() throws IOException {
        Path nccl = fakeLibrary("site-packages/nvidia/nccl/lib");
        NcclLibraryLocator locator =
                new NcclLibraryLocator(
                        null,
                        List.of(),
                        Map.of(
                                "PYTORCH_LIBRARY_PATH",
                                temp.resolve("site-packages/torch/lib").toString()),
                        List.of());
        assertEquals(nccl, locator.locate());
    }

    @Test
    void searchesLdLibraryPathInOrderBeforeSystemFolders() throws IOException {
        fakeLibrary("system");
        Path second = fakeLibrary("second");
        NcclLibraryLocator locator =
                new NcclLibraryLocator(
                        null,
                        List.of(),
                        Map.of(
                                "LD_LIBRARY_PATH",
                                temp.resolve("first") + ":" + temp.resolve("second")),
                        List.of(temp.resolve("system")));
        assertEquals(second, locator.locate());
    }

    @Test
    void prefersTheCopyLoadedInTheProcess() throws IOException {
        fakeLibrary("system");
        Path loaded = temp.resolve("loaded").resolve(NcclLibraryLocator.FILE_NAME);
        NcclLibraryLocator locator =
                new NcclLibraryLocator(
                        null, List.of(loaded), Map.of(), List.of(temp.resolve("system")));
        assertEquals(loaded, locator.locate());
    }

    @Test
    void overrideWinsAndAMissingOverrideIsNamed() throws IOException {
        Path chosen = fakeLibrary("chosen");
        Path loaded = temp.resolve("loaded").resolve(NcclLibraryLocator.FILE_NAME);
        assertEquals(
                chosen,
                new NcclLibraryLocator(chosen.toString(), List.of(loaded), Map.of(), List.of())
                        .locate());
        String missing = temp.resolve("nope/libnccl.so.2").toString();
        NcclException e =
                assertThrows(
                        NcclException.class,
                        () ->
                                new NcclLibraryLocator(missing, List.of(), Map.of(), List.of())
                                        .locate());
        assertTrue(e.getMessage().contains(missing + ", which is not a file"), e.getMessage());
    }
}
