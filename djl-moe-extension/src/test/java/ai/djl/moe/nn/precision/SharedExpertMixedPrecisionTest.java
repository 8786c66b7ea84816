package ai.djl.moe.nn.precision;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.nn.experts.SharedExpert;
import ai.djl.moe.testing.TestDevices;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.ParameterList;
import ai.djl.training.ParameterStore;

import org.junit.jupiter.api.Test;

/** The dense {@link SharedExpert} (the zoo's dense MLP): fp32 master weights, bf16 compute. */
class SharedExpertMixedPrecisionTest {

    private static final Shape INPUT = new Shape(6, 16);

    @Test
    void bf16ExpertTracksFloat32AndGivesFloat32GradientsToTheMasterWeights() {
        try (NDManager m = NDManager.newBaseManager(TestDevices.device(), "PyTorch")) {
            m.getEngine().setRandomSeed(7);
            SharedExpert fp32 = expert(MixedPrecision.FLOAT32, m);
            SharedExpert bf16 = expert(MixedPrecision.BF16, m);
            ParameterList source = fp32.getParameters();
            ParameterList target = bf16.getParameters();
            for (int i = 0; i < source.size(); i++) {
                target.valueAt(i).getArray().set(source.valueAt(i).getArray().toFloatArray());
            }
            NDArray x = m.randomNormal(INPUT);
            NDArray expected = forwardBackward(fp32, x);
            NDArray actual = forwardBackward(bf16, x);

            assertEquals(DataType.FLOAT32, actual.getDataType(), "the output is float32");
            double scale = expected.abs().max().getFloat();
            double error = actual.sub(expected).abs().max().getFloat();
            assertTrue(error > 0, "the products ran in bfloat16, so the result is rounded");
            assertTrue(error < 0.03 * scale, "bf16 error " + error + " vs scale " + scale);
            for (int i = 0; i < source.size(); i++) {
                NDArray want = source.valueAt(i).getArray().getGradient();
                NDArray got = target.valueAt(i).getArray().getGradient();
                assertEquals(DataType.FLOAT32, got.getDataType(), target.keyAt(i));
                double gradScale = want.abs().max().getFloat();
                double gradError = got.sub(want).abs().max().getFloat();
                assertTrue(
                        gradError < 0.05 * gradScale,
                        target.keyAt(i) + ": " + gradError + " vs " + gradScale);
            }
        }
    }

    @Test
    void missingPrecisionIsRejected() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                SharedExpert.builder()
                                        .setIntermediateSize(4)
                                        .optMixedPrecision(null)
                                        .build());
        assertTrue(e.getMessage().contains("precision"), e.getMessage());
    }

    private static SharedExpert expert(MixedPrecision precision, NDManager m) {
        SharedExpert expert =
                SharedExpert.builder()
                        .setIntermediateSize(24)
                        .optSigmoidGate(true)
                        .optMixedPrecision(precision)
                        .build();
        expert.initialize(m, DataType.FLOAT32, INPUT);
        for (var p : expert.getParameters().values()) {
            p.getArray().setRequiresGradient(true);
        }
        return expert;
    }

    /** The output, after the gradient of its sum has reached the weights. */
    private static NDArray forwardBackward(SharedExpert expert, NDArray x) {
        try (MoeGradientCollector collector = new MoeGradientCollector()) {
            NDArray out =
                    expert.forward(new ParameterStore(x.getManager(), false), new NDList(x), true)
                            .singletonOrThrow();
            collector.backward(out.sum());
            return out.duplicate();
        }
    }
}
