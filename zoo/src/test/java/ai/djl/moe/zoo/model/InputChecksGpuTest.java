package ai.djl.moe.zoo.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.testing.TestDevices;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;

import org.junit.jupiter.api.Test;

/**
 * In a training pass on the GPU, token ids outside the vocabulary are refused when the collector
 * closes (the forward pass does not wait for the device to check them), the lookup meanwhile stays
 * inside the table, and the gradients of the pass are zeroed; outside a training pass they are
 * refused at once.
 */
class InputChecksGpuTest {

    @Test
    void idsOutsideTheVocabularyAreRefusedWhenTheTrainingPassCloses() {
        assumeTrue(TestDevices.hasCuda(), TestDevices.NO_GPU);
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu(), "PyTorch")) {
            MoeCausalLm model =
                    MoeCausalLm.builder().setConfig(MoeCausalLmTest.denseConfig(false)).build();
            model.initialize(gpu, DataType.FLOAT32, new Shape(1, 3));
            ParameterStore ps = new ParameterStore(gpu, false);
            NDArray ids = gpu.create(new long[] {1, 50, 2}, new Shape(1, 3));

            IllegalArgumentException now =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> model.forward(ps, new NDList(ids), false));
            assertTrue(now.getMessage().contains("token id 50 outside the vocabulary [0, 50)"));

            MoeGradientCollector gc = new MoeGradientCollector();
            NDArray logits = model.forward(ps, new NDList(ids), true).head();
            assertEquals(new Shape(1, 3, 50), logits.getShape(), "the pass ran to the end");
            gc.backward(logits.sum());
            IllegalArgumentException atClose =
                    assertThrows(IllegalArgumentException.class, gc::close);
            assertTrue(
                    atClose.getMessage().contains("token id 50 outside the vocabulary [0, 50)"),
                    atClose.getMessage());
            for (Pair<String, Parameter> p : model.getParameters()) {
                NDArray g = p.getValue().getArray().getGradient();
                assertEquals(0f, g.abs().sum().getFloat(), p.getKey() + " keeps no gradient");
            }
        }
    }
}
