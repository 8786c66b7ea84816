package ai.djl.moe.autograd;

import java.lang.reflect.Field;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Whether DJL's own PyTorch gradient collector is open: DJL keeps that in a private static flag of
 * {@code PtGradientCollector} (one collector per JVM), read here once by reflection. Where the
 * flag cannot be read (another DJL version), the answer is false.
 */
final class DjlCollector {

    private static final AtomicBoolean FLAG = find();

    private DjlCollector() {}

    /**
     * Returns whether a {@code PtGradientCollector} is open in this JVM.
     *
     * @return true while DJL's collector is collecting
     */
    static boolean isCollecting() {
        return FLAG != null && FLAG.get();
    }

    private static AtomicBoolean find() {
        try {
            Field field =
                    Class.forName("ai.djl.pytorch.engine.PtGradientCollector")
                            .getDeclaredField("isCollecting");
            field.setAccessible(true);
            return field.get(null) instanceof AtomicBoolean flag ? flag : null;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }
}
