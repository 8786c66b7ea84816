package ai.djl.moe.cuda;

import static ai.djl.moe.cuda.GpuTestSupport.assertClose;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.nn.experts.ExpertActivation;
import ai.djl.moe.nn.experts.SlicedExpertCompute;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The grouped GEMMs (cuBLAS per expert) with the activation kernel, forward, data gradient and
 * weight gradient, against {@link SlicedExpertCompute} on the CPU, with empty experts and all rows
 * on one expert.
 */
class GroupedExpertComputeTest {

    private static final int HIDDEN = 48;
    private static final int FFN = 40;

    @BeforeEach
    void needsGpu(TestInfo test) {
        GpuTestSupport.assumeKernels(test.getDisplayName());
    }

    @ParameterizedTest
    @EnumSource(ExpertActivation.class)
    void float32MatchesTheSlicedReference(ExpertActivation activation) {
        check(activation, new long[] {5, 0, 17, 1, 0, 9}, TorchDType.FLOAT32, 1e-5);
    }

    @Test
    void allRowsOnOneExpertAndTrailingEmptyExperts() {
        check(ExpertActivation.SWIGLU, new long[] {0, 0, 33, 0}, TorchDType.FLOAT32, 1e-5);
    }

    @Test
    void bfloat16IsWithinBFloat16Tolerance() {
        check(ExpertActivation.SWIGLU, new long[] {64, 0, 31, 97}, TorchDType.BFLOAT16, 2e-2);
    }

    @ParameterizedTest
    @EnumSource(ExpertActivation.class)
    void anFfnSizeOffTheVectorWidthTakesTheElementwisePath(ExpertActivation activation) {
        // 37 is no multiple of 4 floats or 8 bfloat16: the activation kernels go element by element
        check(activation, new long[] {6, 11, 0, 3}, TorchDType.FLOAT32, 37, 1e-5);
        if (activation != ExpertActivation.RELU) {
            // (bfloat16 rounding flips ReLU's derivative where pre-activations are near zero: the
            // float32 check above covers it; the smooth activations are compared in bfloat16 too)
            check(activation, new long[] {6, 11, 0, 3}, TorchDType.BFLOAT16, 37, 2e-2);
        }
    }

    private static void check(
            ExpertActivation activation, long[] counts, TorchDType computeType, double tol) {
        check(activation, counts, computeType, FFN, tol);
    }

    private static void check(
            ExpertActivation activation,
            long[] counts,
            TorchDType computeType,
            int ffn,
            double tol) {
        long n = 0;
        for (long c : counts) {
            n += c;
        }
        int e = counts.length;
        long width = activation.isGated() ? 2L * ffn : ffn;
        try (NDManager cpu = NDManager.newBaseManager(Device.cpu(), "PyTorch");
                NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            cpu.getEngine().setRandomSeed(counts.length * 7 + activation.ordinal());
            NDArray x = cpu.randomNormal(new Shape(n, HIDDEN));
            NDArray w1 =
                    cpu.randomNormal(
                            0,
                            0.2f,
                            new Shape(e, width, HIDDEN),
                            ai.djl.ndarray.types.DataType.FLOAT32);
            NDArray w2 =
                    cpu.randomNormal(
                            0,
                            0.2f,
                            new Shape(e, HIDDEN, ffn),
                            ai.djl.ndarray.types.DataType.FLOAT32);
            NDArray g = cpu.randomNormal(new Shape(n, HIDDEN));

            NDList ref = leaves(x, w1, w2);
            NDArray yRef;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                yRef =
                        new SlicedExpertCompute()
                                .compute(ref.get(0), counts, ref.get(1), ref.get(2), activation);
                gc.backward(yRef.mul(g).sum());
            }

            NDList dev = leaves(x, w1, w2);
            for (int i = 0; i < 3; i++) {
                dev.set(i, GpuTestSupport.leafOnGpu(dev.get(i), gpu));
            }
            NDArray gOnGpu = g.toDevice(Device.gpu(), true);
            NDArray y = backwardOnGpu(dev, counts, activation, computeType, gOnGpu);
            String what = activation + " " + computeType + " " + java.util.Arrays.toString(counts);
            for (int i = 0; i < 3; i++) {
                // float32 master weights get float32 gradients, in bf16 written by cuBLAS directly
                assertEquals(
                        ai.djl.ndarray.types.DataType.FLOAT32,
                        BFloat16.dataType(dev.get(i).getGradient()),
                        what + " gradient type of input " + i);
            }
            assertClose(what + " output", yRef, y, tol);
            assertClose(
                    what + " input gradient",
                    ref.get(0).getGradient(),
                    dev.get(0).getGradient(),
                    tol);
            assertClose(
                    what + " gate_up gradient",
                    ref.get(1).getGradient(),
                    dev.get(1).getGradient(),
                    tol);
            assertClose(
                    what + " down gradient",
                    ref.get(2).getGradient(),
                    dev.get(2).getGradient(),
                    tol);

            // a second backward adds into the weights' existing gradients (beta = 1 in the GEMMs)
            backwardOnGpu(dev, counts, activation, computeType, gOnGpu);
            for (int i = 1; i < 3; i++) {
                assertClose(
                        what + " accumulated gradient of weight " + i,
                        ref.get(i).getGradient().mul(2),
                        dev.get(i).getGradient(),
                        tol);
            }
            // zeroed in place, as optimizers do, then one more step: the gradient of one step
            for (int i = 0; i < 3; i++) {
                JniUtils.zeroGrad((PtNDArray) dev.get(i));
            }
            backwardOnGpu(dev, counts, activation, computeType, gOnGpu);
            for (int i = 0; i < 3; i++) {
                assertClose(
                        what + " gradient after zeroing, input " + i,
                        ref.get(i).getGradient(),
                        dev.get(i).getGradient(),
                        tol);
            }
        }
    }

    private static NDArray backwardOnGpu(
            NDList dev,
            long[] counts,
            ExpertActivation activation,
            TorchDType computeType,
            NDArray outputGradient) {
        try (MoeGradientCollector gc = new MoeGradientCollector()) {
            NDArray y =
                    new CudaGroupedExpertCompute(computeType)
                            .compute(dev.get(0), counts, dev.get(1), dev.get(2), activation);
            gc.backward(y.mul(outputGradient).sum());
            return y;
        }
    }

    private static NDList leaves(NDArray... arrays) {
        NDList out = new NDList();
        for (NDArray a : arrays) {
            NDArray d = a.duplicate();
            d.setRequiresGradient(true);
            out.add(d);
        }
        return out;
    }
}
