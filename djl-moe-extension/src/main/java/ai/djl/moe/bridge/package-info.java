/**
 * A bridge from DJL's PyTorch engine to libtorch's stable C ABI ({@code aoti_torch_*}), reached
 * through JNA on the handle of a {@code PtNDArray}.
 *
 * <p>It closes the gaps of DJL 0.36 that Mixture-of-Experts training runs into:
 *
 * <ul>
 *   <li>{@link ai.djl.moe.bridge.TensorInfo}: data pointer, dtype, sizes, strides and device of any
 *       array, including dtypes DJL cannot name;
 *   <li>{@link ai.djl.moe.bridge.AtenOp}: any registered aten operator called by name through the
 *       dispatcher, with autograd, and {@link ai.djl.moe.bridge.AtenOps}, typed wrappers for the ops
 *       the project needs ({@code scatter_add}, {@code bincount}, {@code
 *       scaled_dot_product_attention}, {@code _grouped_mm}, ...);
 *   <li>{@link ai.djl.moe.bridge.BFloat16}: safe casts to and from bfloat16 and dtype reporting
 *       that does not lie (DJL's own {@code toType(BFLOAT16)} terminates the JVM);
 *   <li>{@link ai.djl.moe.bridge.CudaStreams}: libtorch's current CUDA stream, for kernels launched
 *       beside it.
 * </ul>
 *
 * <p>Errors reported by libtorch become {@link ai.djl.moe.bridge.TorchException}s carrying
 * libtorch's own message.
 */
package ai.djl.moe.bridge;
