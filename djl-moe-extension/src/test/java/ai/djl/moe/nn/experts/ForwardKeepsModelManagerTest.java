package ai.djl.moe.nn.experts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.nn.MoeBlock;
import ai.djl.moe.nn.loss.AuxLossRecorder;
import ai.djl.moe.nn.router.LoadBalancingType;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;

import org.junit.jupiter.api.Test;

/**
 * Training forward passes of the MoE block and of the dense MLP leave nothing in the manager of
 * the model's parameters (a leak of weight transposes, splits and casts grew it by dozens of
 * arrays per pass), and the weights still receive gradients.
 */
class ForwardKeepsModelManagerTest {

    private static final Shape INPUT = new Shape(2, 5, 16);
    private static final int PASSES = 4;

    @Test
    void moeBlockForwardLeavesTheModelManagerAsItWas() {
        AuxLossRecorder recorder = new AuxLossRecorder();
        MoeBlock block =
                MoeBlock.builder()
                        .setRouter(
                                TopKRouter.builder()
                                        .setNumExperts(4)
                                        .setTopK(2)
                                        .optLoadBalancing(LoadBalancingType.MICRO_BATCH, 0.01f)
                                        .optZLoss(0.001f)
                                        .optInputJitter(0.01f)
                                        .optAuxLossRecorder(recorder, "layer0")
                                        .build())
                        .setExperts(
                                GroupedExperts.builder()
                                        .setNumExperts(4)
                                        .setIntermediateSize(12)
                                        .build())
                        .optSharedExpert(
                                SharedExpert.builder()
                                        .setIntermediateSize(10)
                                        .optSigmoidGate(true)
                                        .build())
                        .build();
        assertModelManagerStaysConstant(block, recorder);
    }

    @Test
    void denseMlpForwardLeavesTheModelManagerAsItWas() {
        for (ExpertActivation activation :
                new ExpertActivation[] {ExpertActivation.SWIGLU, ExpertActivation.GELU}) {
            assertModelManagerStaysConstant(
                    SharedExpert.builder()
                            .setIntermediateSize(24)
                            .optActivation(activation)
                            .optSigmoidGate(true)
                            .build(),
                    null);
        }
    }

    private static void assertModelManagerStaysConstant(
            AbstractBlock block, AuxLossRecorder recorder) {
        try (NDManager model = NDManager.newBaseManager()) {
            block.initialize(model, DataType.FLOAT32, INPUT);
            for (Parameter p : block.getParameters().values()) {
                p.getArray().setRequiresGradient(true);
            }
            trainingPass(block, model, recorder);
            int before = model.getManagedArrays().size();
            for (int pass = 0; pass < PASSES; pass++) {
                trainingPass(block, model, recorder);
            }
            assertEquals(
                    before,
                    model.getManagedArrays().size(),
                    "arrays left in the model's manager after " + PASSES + " passes");
            for (Parameter p : block.getParameters().values()) {
                NDArray grad = p.getArray().getGradient();
                assertTrue(
                        grad.abs().sum().getFloat() > 0, p.getName() + " received no gradient");
            }
        }
    }

    private static void trainingPass(
            AbstractBlock block, NDManager model, AuxLossRecorder recorder) {
        try (NDManager step = model.newSubManager();
                GradientCollector collector = new MoeGradientCollector()) {
            NDArray x = step.randomNormal(INPUT);
            NDArray out =
                    block.forward(new ParameterStore(step, false), new NDList(x), true)
                            .singletonOrThrow();
            NDArray loss = out.square().sum();
            if (recorder != null) {
                for (AuxLossRecorder.AuxLoss aux : recorder.drain()) {
                    loss = loss.add(aux.scaled());
                }
            }
            collector.backward(loss);
        }
    }
}
