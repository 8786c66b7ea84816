package ai.djl.moe.examples.cli;

import ai.djl.engine.Engine;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code djl-moe version}: the versions of djl-moe, DJL, the engine and libtorch. */
@Command(name = "version", description = "Print djl-moe, DJL and libtorch versions.")
public final class VersionCommand implements Callable<Integer> {

    /** {@inheritDoc} */
    @Override
    public Integer call() {
        System.out.println("djl-moe " + djlMoeVersion());
        System.out.println("DJL " + Engine.getDjlVersion());
        Engine engine = Engine.getEngine("PyTorch");
        System.out.println("engine " + engine.getEngineName() + " " + engine.getVersion());
        System.out.println("java " + System.getProperty("java.version"));
        return 0;
    }

    static String djlMoeVersion() {
        String v = DjlMoe.class.getPackage().getImplementationVersion();
        return v == null ? "0.1.0-SNAPSHOT" : v;
    }

    /** Supplies {@code --version} output. */
    public static final class Provider implements CommandLine.IVersionProvider {
        /** {@inheritDoc} */
        @Override
        public String[] getVersion() {
            return new String[] {"djl-moe " + djlMoeVersion()};
        }
    }
}
