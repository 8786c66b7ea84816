package ai.djl.moe.cuda;

import ai.djl.moe.bridge.AtenArg;
import ai.djl.moe.bridge.AtenOp;
import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;

import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * bfloat16 copies of float32 master weights, kept from one forward pass to the next instead of cast
 * again each time (a 4-byte read and a 2-byte write per value and pass), and refreshed by {@link
 * FusedAdam} in the same pass that updates the master (a 2-byte write per value more there), as
 * Megatron keeps bf16 model weights beside its fp32 main weights.
 *
 * <p>A copy is used only while it provably matches its master: the same array object, the same
 * storage, and libtorch's version counter of the master unchanged since the copy was made. Every
 * write through libtorch (DJL operations, in-place copies, a checkpoint load, DJL's own optimizer
 * update) bumps that counter, and the next use casts again; the stale copy then goes with the
 * arrays of that step (a backward pass may still read it) rather than being freed at once. The one
 * writer that bypasses libtorch is the fused Adam kernel, which writes the copy together with the
 * master. A kept copy belongs to its master's manager and is dropped when the master is closed.
 *
 * <p>{@code -Ddjl.moe.keepWeightCopies=false} turns the cache off (each use casts).
 */
final class WeightCopies {

    private static final boolean ENABLED =
            Boolean.parseBoolean(System.getProperty("djl.moe.keepWeightCopies", "true"));
    private static final AtenOp VERSION = AtenOp.of("aten::_version", "");

    /** The copies by their master's data pointer; guarded by itself. */
    private static final Map<Long, Copy> COPIES = new HashMap<>();

    private WeightCopies() {}

    /**
     * Returns a bfloat16 copy of a float32 master with its current values: the kept copy while it
     * matches, else a new cast, kept for the next call (with the cache off, a cast that belongs to
     * {@code stepManager}). The copy carries no autograd graph; it must not be closed or written by
     * the caller.
     *
     * @param master a dense float32 array
     * @param stepManager the manager of the step's arrays, which owns the copy when none is kept
     * @return its bfloat16 copy
     */
    static NDArray bfloat16Of(NDArray master, NDManager stepManager) {
        if (!ENABLED) {
            return cast(master, stepManager);
        }
        long pointer = TensorInfo.dataPointer(master);
        long version = version(master);
        synchronized (COPIES) {
            Copy kept = COPIES.get(pointer);
            if (kept != null && kept.matches(master, version)) {
                return kept.copy;
            }
            if (kept != null) {
                // a backward pass of this step may still read the stale copy: it goes with the
                // step's arrays instead of being freed now
                COPIES.remove(pointer).handOver(stepManager);
            }
            dropReleased();
            NDArray copy = cast(master, master.getManager());
            COPIES.put(pointer, new Copy(master, version, copy));
            return copy;
        }
    }

    /**
     * Returns the data pointer of the kept copy of a master that is about to be updated in place by
     * a raw kernel that also writes the copy, or 0 when there is none that matches (a stale copy is
     * dropped).
     *
     * @param master the float32 master
     * @return the bfloat16 copy's data pointer, or 0
     */
    static long refreshTarget(NDArray master) {
        if (!ENABLED) {
            return 0;
        }
        long pointer = TensorInfo.dataPointer(master);
        synchronized (COPIES) {
            Copy kept = COPIES.get(pointer);
            if (kept == null) {
                return 0;
            }
            if (!kept.matches(master, version(master))) {
                COPIES.remove(pointer).close();
                return 0;
            }
            return TensorInfo.dataPointer(kept.copy);
        }
    }

    /**
     * Returns how many copies are kept (for tests).
     *
     * @return the number of masters with a kept copy
     */
    static int size() {
        synchronized (COPIES) {
            dropReleased();
            return COPIES.size();
        }
    }

    private static long version(NDArray array) {
        return VERSION.callForLong(AtenArg.tensor(array));
    }

    private static NDArray cast(NDArray master, NDManager owner) {
        boolean gradMode = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try {
            NDArray copy = AtenOps.toCopy(master, TorchDType.BFLOAT16);
            copy.attach(owner);
            return copy;
        } finally {
            JniUtils.setGradMode(gradMode);
        }
    }

    /** Drops the copies of closed masters (their storage may be reused by another array). */
    private static void dropReleased() {
        Iterator<Copy> it = COPIES.values().iterator();
        while (it.hasNext()) {
            Copy c = it.next();
            if (c.master.isReleased() || c.copy.isReleased()) {
                it.remove();
                c.close();
            }
        }
    }

    /** A master, the version its copy was made at, and the copy. */
    private record Copy(NDArray master, long version, NDArray copy) {

        boolean matches(NDArray array, long currentVersion) {
            return master == array
                    && !master.isReleased()
                    && !copy.isReleased()
                    && version == currentVersion
                    && copy.getShape().equals(array.getShape());
        }

        void close() {
            if (!copy.isReleased()) {
                copy.close();
            }
        }

        void handOver(NDManager owner) {
            if (!copy.isReleased()) {
                copy.attach(owner);
            }
        }
    }
}
