package ai.djl.moe.cuda;

import ai.djl.Device;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.nn.router.TokenCounts;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import java.util.Arrays;

/**
 * The device-side index maps of one dispatch, shared by {@link MoePermute} and {@link
 * MoeUnpermute}. An assignment is a (token, choice) pair {@code a = t * k + j}.
 *
 * @param rowSource int64 {@code [rows]}: the assignment that fills each expert-input row, or {@code
 *     -1} for a padding row (zeros)
 * @param slot int64 {@code [T * k]}: the row of each assignment, or {@code -1} if dropped
 * @param numTokens {@code T}
 * @param topK {@code k}
 * @param counts the rows per expert (padding included), summing to {@code rows}; see {@link
 *     #rowsPerExpert()}
 */
public record PermuteIndices(
        NDArray rowSource, NDArray slot, long numTokens, int topK, TokenCounts counts) {

    /**
     * Builds the maps from a host-side plan.
     *
     * @param manager the manager that will own the device arrays
     * @param device the CUDA device
     * @param slotToRow the row of every assignment in {@code [T * k]} order; any value {@code >=}
     *     the row count (or negative) marks a dropped assignment
     * @param rowsPerExpert the rows per expert, padding included
     * @param numTokens {@code T}
     * @return the maps
     * @throws IllegalArgumentException if the plan is inconsistent
     */
    public static PermuteIndices fromPlan(
            NDManager manager,
            Device device,
            long[] slotToRow,
            long[] rowsPerExpert,
            long numTokens) {
        long rows = 0;
        for (long r : rowsPerExpert) {
            if (r < 0) {
                throw new IllegalArgumentException("negative rows per expert: " + r);
            }
            rows += r;
        }
        if (numTokens <= 0 ? slotToRow.length != 0 : slotToRow.length % numTokens != 0) {
            throw new IllegalArgumentException(
                    slotToRow.length + " assignments do not divide into " + numTokens + " tokens");
        }
        int topK = numTokens == 0 ? 1 : (int) (slotToRow.length / numTokens);
        long[] slot = new long[slotToRow.length];
        long[] rowSource = new long[Math.toIntExact(rows)];
        Arrays.fill(rowSource, -1L);
        for (int a = 0; a < slotToRow.length; a++) {
            long r = slotToRow[a];
            if (r < 0 || r >= rows) {
                slot[a] = -1;
                continue;
            }
            if (rowSource[(int) r] >= 0) {
                throw new IllegalArgumentException(
                        "row "
                                + r
                                + " is filled by assignments "
                                + rowSource[(int) r]
                                + " and "
                                + a);
            }
            slot[a] = r;
            rowSource[(int) r] = a;
        }
        return new PermuteIndices(
                manager.create(rowSource).toDevice(device, false),
                manager.create(slot).toDevice(device, false),
                numTokens,
                topK,
                TokenCounts.of(rowsPerExpert));
    }

    /**
     * Builds dropless maps on the device from the routing, without a host round trip of the indices
     * ({@code moe_build_indices}): the assignments of each expert, in assignment order, take
     * consecutive rows, experts in order (the same plan as the host's dropless dispatch).
     *
     * @param expertIndices int64 {@code [T, k]} chosen experts on a CUDA device
     * @param tokensPerExpert assignments per expert (sums to {@code T * k})
     * @return the maps
     * @throws IllegalArgumentException if the counts do not fit the indices
     */
    public static PermuteIndices dropless(NDArray expertIndices, long[] tokensPerExpert) {
        return dropless(expertIndices, TokenCounts.of(tokensPerExpert));
    }

    /**
     * Builds dropless maps as {@link #dropless(NDArray, long[])} does, from counts that may still
     * be on the device only (a fused router's): the kernel then reads them there, and the host does
     * not wait for them.
     *
     * @param expertIndices int64 {@code [T, k]} chosen experts on a CUDA device
     * @param counts assignments per expert (they sum to {@code T * k})
     * @return the maps
     * @throws IllegalArgumentException if counts known on the host do not fit the indices
     */
    public static PermuteIndices dropless(NDArray expertIndices, TokenCounts counts) {
        NDArray indices = DeviceArrays.contiguous(expertIndices);
        DeviceArrays.require(indices, TorchDType.INT64, "expert indices");
        Shape shape = indices.getShape();
        if (shape.dimension() != 2) {
            throw new IllegalArgumentException("expert indices must be [T, k], got " + shape);
        }
        long assignments = shape.size();
        NDArray deviceCounts = counts.onDevice();
        NDArray uploaded = null;
        if (deviceCounts == null || counts.isKnown()) {
            long[] host = counts.get();
            int[] narrow = new int[host.length];
            long total = 0;
            for (int e = 0; e < host.length; e++) {
                narrow[e] = Math.toIntExact(host[e]);
                total += host[e];
            }
            if (total != assignments) {
                throw new IllegalArgumentException(
                        "tokens per expert sum to "
                                + total
                                + " but there are "
                                + assignments
                                + " assignments");
            }
            if (deviceCounts == null) {
                uploaded = indices.getManager().create(narrow).toDevice(indices.getDevice(), false);
                deviceCounts = uploaded;
            }
        } else {
            DeviceArrays.require(deviceCounts, TorchDType.INT32, "device counts");
        }
        int device = CudaKernels.deviceOf(indices, "expert indices");
        NDArray slot = DeviceArrays.empty(indices, new Shape(assignments), TorchDType.INT64);
        NDArray rowSource = DeviceArrays.empty(indices, new Shape(assignments), TorchDType.INT64);
        CudaKernels.launch(
                device,
                "moe_build_indices",
                counts.numExperts(),
                new KernelArgs()
                        .pointer(DeviceArrays.pointer(indices))
                        .int64(assignments)
                        .pointer(DeviceArrays.pointer(deviceCounts))
                        .pointer(DeviceArrays.pointer(slot))
                        .pointer(DeviceArrays.pointer(rowSource)));
        if (uploaded != null) {
            // freed in stream order: the kernel has read it before any later reuse
            uploaded.close();
        }
        return new PermuteIndices(rowSource, slot, shape.get(0), (int) shape.get(1), counts);
    }

    /**
     * Returns the rows per expert, reading them from the device on first use where they were
     * counted there.
     *
     * @return a copy of the counts (padding included)
     */
    public long[] rowsPerExpert() {
        return counts.get();
    }

    /**
     * Returns the number of expert-input rows.
     *
     * @return the sum of {@link #rowsPerExpert()}
     */
    public long rows() {
        return rowSource.getShape().get(0);
    }
}
