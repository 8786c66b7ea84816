/**
 * CUDA implementations of the MoE layer's hot paths, launched through the CUDA driver API on
 * libtorch's current stream: row permutation with padding and dropping ({@link
 * ai.djl.moe.cuda.MoePermute}), weighted unpermute+combine ({@link ai.djl.moe.cuda.MoeUnpermute}),
 * expert activations ({@link ai.djl.moe.cuda.ExpertActivationKernel}), the fused top-k router
 * ({@link ai.djl.moe.cuda.FusedTopKRouter}) and grouped GEMMs through cuBLAS ({@link
 * ai.djl.moe.cuda.GroupedGemm}, its per-expert products spread over libtorch's current stream and a
 * second one, {@code SideStream}), put together as {@link ai.djl.moe.cuda.CudaGroupedExpertCompute}
 * and {@link ai.djl.moe.cuda.CudaTokenDispatcher}; and fused kernels of the model around the MoE
 * layer: RMS norm ({@link ai.djl.moe.cuda.FusedRmsNorm}), rotary embedding ({@link
 * ai.djl.moe.cuda.FusedRotary}), the language-model cross entropy ({@link
 * ai.djl.moe.cuda.FusedCrossEntropy}) and Adam ({@link ai.djl.moe.cuda.FusedAdam}, which also
 * refreshes the bfloat16 copies of the expert weights that the forward passes keep). Every op is an
 * {@link ai.djl.moe.autograd.Function} with its backward (Adam, an optimizer step, has none).
 *
 * <p>A training pass queues its work without waiting for the device: the router's counts serve the
 * dispatch and the expert GEMMs from device memory and reach the host through a copy queued behind
 * the router ({@code HostCopy}), read in the backward pass; checks of values computed on the device
 * (invalid token ids and targets) finish when the gradient collector closes ({@link
 * ai.djl.moe.cuda.DeviceChecks}).
 *
 * <p>The kernels come from {@code src/main/cuda/*.cu}, compiled by nvcc at build time into a fatbin
 * in this jar; {@link ai.djl.moe.cuda.CudaKernels#isAvailable()} says whether they were built and
 * can run here.
 */
package ai.djl.moe.cuda;
