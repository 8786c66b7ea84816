package ai.djl.moe.it.notebook;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

/**
 * The class path of this JVM as a list of entries: {@code java.class.path}, with the {@code
 * Class-Path} of manifest-only jars (how surefire passes a long test class path) expanded.
 */
final class TestClassPath {

    private TestClassPath() {}

    /**
     * Returns the entries that exist, in class path order, without duplicates.
     *
     * @return the entries
     * @throws IOException when a jar's manifest cannot be read
     */
    static List<Path> entries() throws IOException {
        Set<Path> entries = new LinkedHashSet<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (!entry.isEmpty()) {
                add(Path.of(entry).toAbsolutePath().normalize(), entries);
            }
        }
        return new ArrayList<>(entries);
    }

    private static void add(Path entry, Set<Path> entries) throws IOException {
        if (!Files.exists(entry) || !entries.add(entry) || !entry.toString().endsWith(".jar")) {
            return;
        }
        Manifest manifest;
        try (JarFile jar = new JarFile(entry.toFile())) {
            manifest = jar.getManifest();
        }
        String classPath =
                manifest == null ? null : manifest.getMainAttributes().getValue("Class-Path");
        if (classPath == null) {
            return;
        }
        URI base = entry.toUri();
        for (String reference : classPath.trim().split("\\s+")) {
            if (!reference.isEmpty()) {
                try {
                    add(Path.of(base.resolve(reference)), entries);
                } catch (IllegalArgumentException e) {
                    throw new IOException(entry + ": bad Class-Path entry " + reference, e);
                }
            }
        }
    }
}
