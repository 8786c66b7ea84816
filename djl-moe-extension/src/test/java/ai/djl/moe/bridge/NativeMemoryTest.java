package ai.djl.moe.bridge;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Structure;
import org.junit.jupiter.api.Test;

/** Ownership of the handles the bridge creates: no leak and no double free over many calls. */
class NativeMemoryTest {

    private static final int CALLS = 20_000;
    private static final int ELEMENTS = 16_384;

    /** glibc's {@code struct mallinfo2}: ten {@code size_t} counters. */
    @Structure.FieldOrder({
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost"
    })
    public static class MallInfo extends Structure implements Structure.ByValue {
        public long arena;
        public long ordblks;
        public long smblks;
        public long hblks;
        public long hblkhd;
        public long usmblks;
        public long fsmblks;
        public long uordblks;
        public long fordblks;
        public long keepcost;
    }

    /** The C library's allocator statistics (libtorch's CPU tensors come from malloc). */
    public interface LibC extends Library {
        LibC INSTANCE = Native.load("c", LibC.class);

        MallInfo mallinfo2();
    }

    /** Bytes currently allocated through malloc: heap chunks in use plus mmapped blocks. */
    private static long mallocInUse() throws InterruptedException {
        // JNA frees its by-reference buffers when the garbage collector collects them
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(200);
        }
        MallInfo info = LibC.INSTANCE.mallinfo2();
        return info.uordblks + info.hblkhd;
    }

    private static void churn(NDManager parent, int calls) {
        for (int i = 0; i < calls; i++) {
            try (NDManager m = parent.newSubManager()) {
                NDArray x = m.ones(new Shape(ELEMENTS));
                NDArray bf = BFloat16.toBFloat16(x);
                NDArray back = BFloat16.toFloat32(bf);
                NDArray idx = m.zeros(new Shape(ELEMENTS), ai.djl.ndarray.types.DataType.INT64);
                AtenOps.scatterAdd(back, 0, idx, x);
                TensorInfo.of(bf);
            }
        }
    }

    @Test
    void thousandsOfCallsKeepNativeMemoryStable() throws InterruptedException {
        try (NDManager m = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            churn(m, 2_000); // warm up allocator caches
            long before = mallocInUse();
            churn(m, CALLS);
            long after = mallocInUse();
            // one leaked tensor handle per iteration would keep >= 32 KiB alive (>= 640 MiB in
            // all); the allowance covers allocator and JNA bookkeeping noise
            long growth = after - before;
            assertTrue(growth < 64L << 20, "native memory in use grew by " + growth + " bytes");
        }
    }
}
