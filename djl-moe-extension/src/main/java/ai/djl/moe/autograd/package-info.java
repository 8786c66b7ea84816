/**
 * Custom autograd functions for DJL: differentiable operations whose forward and backward are
 * your own code (a collective, a raw CUDA kernel), mixed freely with ordinary DJL operations.
 *
 * <p>How it works: {@link ai.djl.moe.autograd.Function#apply} computes its outputs outside
 * libtorch's autograd and returns them as leaves that require gradients, and records the call on
 * the current thread's tape. {@link ai.djl.moe.autograd.MoeGradientCollector#backward} first runs
 * libtorch's backward from the loss, which fills the gradients of those leaves; it then replays
 * the recorded functions in reverse order: each one's {@code backward} turns its outputs'
 * gradients into its inputs' gradients, and libtorch's autograd continues from the inputs ({@code
 * JniUtils.backward(input, gradient)}), reaching parameters and earlier functions' outputs.
 *
 * <p>The collector is per thread (libtorch's grad mode is thread-local too), so ranks simulated
 * as threads each train with their own. {@link ai.djl.moe.autograd.MoeTrainer} plugs it into
 * DJL's {@code Trainer}, so {@code EasyTrain.fit} works unchanged; it refuses steps whose loss or
 * gradients are not finite ({@link ai.djl.moe.autograd.NonFinitePolicy}, {@link
 * ai.djl.moe.autograd.StepRefusalListener}).
 */
package ai.djl.moe.autograd;
