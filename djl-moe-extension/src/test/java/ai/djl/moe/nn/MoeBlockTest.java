package ai.djl.moe.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.MalformedModelException;
import ai.djl.moe.nn.experts.ExpertActivation;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.experts.SharedExpert;
import ai.djl.moe.nn.loss.AuxLossRecorder;
import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.List;

/** MoeBlock as a DJL block: parameters, output shapes, save/load, recording only in training. */
class MoeBlockTest {

    @Test
    void parametersAndOutputShapes() {
        MoeBlock block = block(8, 2, ExpertActivation.SWIGLU, true, null);
        try (NDManager manager = NDManager.newBaseManager()) {
            Shape input = new Shape(2, 5, 16);
            block.initialize(manager, DataType.FLOAT32, input);
            assertArrayEquals(new Shape[] {input}, block.getOutputShapes(new Shape[] {input}));
            var p = block.namedParameters();
            assertEquals(
                    List.of(
                            "router_weight",
                            "experts_gate_up_proj",
                            "experts_down_proj",
                            "shared_expert_gate_proj",
                            "shared_expert_up_proj",
                            "shared_expert_down_proj",
                            "shared_expert_gate"),
                    List.copyOf(p.keySet()));
            assertEquals(new Shape(8, 16), p.get("router_weight").getArray().getShape());
            assertEquals(new Shape(8, 24, 16), p.get("experts_gate_up_proj").getArray().getShape());
            assertEquals(new Shape(8, 16, 12), p.get("experts_down_proj").getArray().getShape());
            assertEquals(new Shape(1, 16), p.get("shared_expert_gate").getArray().getShape());
            NDArray out =
                    block.forward(
                                    new ParameterStore(manager, false),
                                    new NDList(manager.randomNormal(input)),
                                    false)
                            .singletonOrThrow();
            assertEquals(input, out.getShape());
        }
    }

    @Test
    void plainActivationUsesSingleProjection() {
        MoeBlock block = block(4, 1, ExpertActivation.GELU, false, null);
        try (NDManager manager = NDManager.newBaseManager()) {
            block.initialize(manager, DataType.FLOAT32, new Shape(3, 8));
            assertEquals(
                    new Shape(4, 12, 8),
                    block.namedParameters().get("experts_gate_up_proj").getArray().getShape());
            NDArray x = manager.randomNormal(new Shape(3, 8));
            NDArray out =
                    block.forward(new ParameterStore(manager, false), new NDList(x), false).head();
            assertEquals(new Shape(3, 8), out.getShape());
        }
    }

    @Test
    void saveAndLoadRestoreTheSameFunction() throws IOException, MalformedModelException {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoeBlock original = block(4, 2, ExpertActivation.SWIGLU, true, null);
            original.initialize(manager, DataType.FLOAT32, new Shape(6, 8));
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            original.saveParameters(new DataOutputStream(bytes));

            MoeBlock restored = block(4, 2, ExpertActivation.SWIGLU, true, null);
            restored.loadParameters(
                    manager, new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())));
            NDArray x = manager.randomNormal(new Shape(6, 8));
            ParameterStore store = new ParameterStore(manager, false);
            float[] a = original.forward(store, new NDList(x), false).head().toFloatArray();
            float[] b = restored.forward(store, new NDList(x), false).head().toFloatArray();
            assertArrayEquals(a, b);

            MoeBlock other = block(8, 2, ExpertActivation.SWIGLU, true, null);
            MalformedModelException e =
                    assertThrows(
                            MalformedModelException.class,
                            () ->
                                    other.loadParameters(
                                            manager,
                                            new DataInputStream(
                                                    new ByteArrayInputStream(
                                                            bytes.toByteArray()))));
            assertTrue(e.getMessage().contains("4 experts"), e.getMessage());
        }
    }

    @Test
    void recordsAuxLossesOnlyInTraining() {
        AuxLossRecorder recorder = new AuxLossRecorder();
        MoeBlock block = block(4, 2, ExpertActivation.SWIGLU, false, recorder);
        try (NDManager manager = NDManager.newBaseManager()) {
            block.initialize(manager, DataType.FLOAT32, new Shape(6, 8));
            ParameterStore store = new ParameterStore(manager, false);
            NDArray x = manager.randomNormal(new Shape(6, 8));
            block.forward(store, new NDList(x), false);
            assertTrue(recorder.peek().isEmpty());
            block.forward(store, new NDList(x), true);
            List<AuxLossRecorder.AuxLoss> losses = recorder.drain();
            assertEquals(1, losses.size());
            assertEquals("layer0", losses.get(0).source());
            assertEquals("load_balancing", losses.get(0).kind());
            assertEquals(
                    0.01f * losses.get(0).value().getFloat(),
                    losses.get(0).scaled().getFloat(),
                    1e-9f);
        }
    }

    @Test
    void routerComputesInFloat32ForHalfInput() {
        TopKRouter router = TopKRouter.builder().setNumExperts(4).setTopK(2).build();
        try (NDManager manager = NDManager.newBaseManager()) {
            router.initialize(manager, DataType.FLOAT16, new Shape(5, 8));
            assertEquals(
                    DataType.FLOAT32,
                    router.getParameters().get("weight").getArray().getDataType());
            NDArray tokens = manager.randomNormal(new Shape(5, 8)).toType(DataType.FLOAT16, false);
            var routing = router.route(new ParameterStore(manager, false), tokens, 5, false);
            assertEquals(DataType.FLOAT32, routing.logits().getDataType());
            assertEquals(DataType.FLOAT32, routing.weights().getDataType());
            NDArray expected =
                    tokens.toType(DataType.FLOAT32, false)
                            .matMul(router.getParameters().get("weight").getArray().transpose());
            assertArrayEquals(expected.toFloatArray(), routing.logits().toFloatArray(), 1e-6f);
        }
    }

    @Test
    void inputJitterOnlyInTraining() {
        TopKRouter router =
                TopKRouter.builder().setNumExperts(4).setTopK(2).optInputJitter(0.3f).build();
        try (NDManager manager = NDManager.newBaseManager()) {
            router.initialize(manager, DataType.FLOAT32, new Shape(6, 8));
            ParameterStore store = new ParameterStore(manager, false);
            NDArray x = manager.randomNormal(new Shape(6, 8));
            float[] plain =
                    x.matMul(router.getParameters().get("weight").getArray().transpose())
                            .toFloatArray();
            assertArrayEquals(
                    plain, router.route(store, x, 6, false).logits().toFloatArray(), 1e-6f);
            float[] jittered = router.route(store, x, 6, true).logits().toFloatArray();
            double maxDiff = 0;
            for (int i = 0; i < plain.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(plain[i] - jittered[i]));
            }
            assertTrue(maxDiff > 1e-4, "training logits should be jittered");
        }
    }

    private static MoeBlock block(
            int experts,
            int topK,
            ExpertActivation activation,
            boolean shared,
            AuxLossRecorder recorder) {
        TopKRouter.Builder router = TopKRouter.builder().setNumExperts(experts).setTopK(topK);
        if (recorder != null) {
            router.optAuxLossRecorder(recorder, "layer0");
        }
        MoeBlock.Builder builder =
                MoeBlock.builder()
                        .setRouter(router.build())
                        .setExperts(
                                GroupedExperts.builder()
                                        .setNumExperts(experts)
                                        .setIntermediateSize(12)
                                        .optActivation(activation)
                                        .build());
        if (shared) {
            builder.optSharedExpert(
                    SharedExpert.builder().setIntermediateSize(10).optSigmoidGate(true).build());
        }
        return builder.build();
    }
}
