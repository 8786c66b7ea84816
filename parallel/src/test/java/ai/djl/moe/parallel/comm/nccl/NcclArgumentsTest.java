package ai.djl.moe.parallel.comm.nccl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import ai.djl.moe.bridge.TorchDType;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelConfig;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.ProcessGroup;
import ai.djl.moe.parallel.comm.ReduceOp;
import ai.djl.moe.testing.TestDevices;
import org.junit.jupiter.api.Test;
import java.time.Duration;
import java.util.List;

/** The checks and mappings the nccl backend applies before calling NCCL (no GPU needed). */
class NcclArgumentsTest {

    @Test
    void dataTypesMapToNcclHeaderCodes() {
        assertEquals(0, NcclDataType.of(TorchDType.INT8).code());
        assertEquals(1, NcclDataType.of(TorchDType.UINT8).code());
        assertEquals(1, NcclDataType.of(TorchDType.BOOL).code());
        assertEquals(2, NcclDataType.of(TorchDType.INT32).code());
        assertEquals(4, NcclDataType.of(TorchDType.INT64).code());
        assertEquals(6, NcclDataType.of(TorchDType.FLOAT16).code());
        assertEquals(7, NcclDataType.of(TorchDType.FLOAT32).code());
        assertEquals(8, NcclDataType.of(TorchDType.FLOAT64).code());
        assertEquals(9, NcclDataType.of(TorchDType.BFLOAT16).code());
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> NcclDataType.of(TorchDType.INT16));
        assertTrue(e.getMessage().contains("INT16"), e.getMessage());
    }

    @Test
    void reductionsMapToNcclHeaderCodes() {
        assertEquals(0, NcclDataType.reduction(ReduceOp.SUM, TorchDType.INT64));
        assertEquals(2, NcclDataType.reduction(ReduceOp.MAX, TorchDType.BOOL));
        assertEquals(3, NcclDataType.reduction(ReduceOp.MIN, TorchDType.INT32));
        assertEquals(4, NcclDataType.reduction(ReduceOp.AVG, TorchDType.BFLOAT16));
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> NcclDataType.reduction(ReduceOp.AVG, TorchDType.INT64))
                        .getMessage()
                        .contains("AVG needs a floating-point array"));
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> NcclDataType.reduction(ReduceOp.SUM, TorchDType.BOOL))
                        .getMessage()
                        .contains("SUM of boolean arrays"));
    }

    @Test
    void connectingWithoutAGpuSaysSo() {
        assumeFalse(TestDevices.hasCuda(), "this machine has a GPU: NcclGpuTest covers connect");
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                NcclWorld.connect(
                                        new DistributedEnvironment(0, 1, 0, "127.0.0.1", 29500),
                                        Duration.ofSeconds(1)));
        assertTrue(
                e.getMessage().contains("LOCAL_RANK 0 names CUDA device 0 but this process sees 0"),
                e.getMessage());
    }

    @Test
    void splitColorIsTheGroupAndKeyTheLocalRank() {
        ParallelMapping mapping =
                new ParallelMapping(
                        ParallelConfig.builder().setWorldSize(8).optTp(2).optEp(4).build());
        List<ProcessGroup> ep = mapping.getGroups(GroupKind.EP);
        for (int rank = 0; rank < 8; ++rank) {
            int[] colorAndKey = NcclWorld.colorAndKey(ep, 8, rank);
            assertEquals(mapping.getGroupIndex(GroupKind.EP, rank), colorAndKey[0]);
            assertEquals(mapping.getLocalRank(GroupKind.EP, rank), colorAndKey[1]);
        }
    }

    @Test
    void splitNeedsAPartitionOfTheWorld() {
        List<ProcessGroup> overlapping =
                List.of(
                        new ProcessGroup("x", 0, new int[] {0, 1}),
                        new ProcessGroup("x", 1, new int[] {1, 2}));
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> NcclWorld.colorAndKey(overlapping, 3, 0))
                        .getMessage()
                        .contains("rank 1 is in groups x#0[0, 1] and x#1[1, 2]"));
        List<ProcessGroup> partial = List.of(new ProcessGroup("x", 0, new int[] {0, 1}));
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> NcclWorld.colorAndKey(partial, 3, 0))
                        .getMessage()
                        .contains("rank 2 is in none of the groups"));
        List<ProcessGroup> outside = List.of(new ProcessGroup("x", 0, new int[] {0, 1, 2, 3}));
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> NcclWorld.colorAndKey(outside, 3, 0))
                        .getMessage()
                        .contains("outside a world of 3"));
    }
}
