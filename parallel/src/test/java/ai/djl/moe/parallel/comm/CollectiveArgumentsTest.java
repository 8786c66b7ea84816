package ai.djl.moe.parallel.comm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.moe.parallel.ProcessGroup;
import org.junit.jupiter.api.Test;

class CollectiveArgumentsTest {

    private static final ProcessGroup EP = new ProcessGroup("ep", 1, new int[] {4, 5, 6});

    @Test
    void splitSizesAreChecked() {
        CollectiveArguments.checkSplits(EP, "sendSplits", new long[] {2, 0, 3}, 5);
        CollectiveArguments.checkSplits(EP, "recvSplits", new long[] {0, 0, 0}, -1);
        String wrongLength =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        CollectiveArguments.checkSplits(
                                                EP, "sendSplits", new long[] {5}, 5))
                        .getMessage();
        assertTrue(wrongLength.contains("sendSplits has 1 entries for 3 ranks"), wrongLength);
        assertTrue(wrongLength.contains("ep#1[4, 5, 6]"), wrongLength);
        String negative =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        CollectiveArguments.checkSplits(
                                                EP, "recvSplits", new long[] {1, -1, 0}, -1))
                        .getMessage();
        assertTrue(negative.contains("negative size in recvSplits [1, -1, 0]"), negative);
        String wrongSum =
                assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        CollectiveArguments.checkSplits(
                                                EP, "sendSplits", new long[] {1, 1, 1}, 4))
                        .getMessage();
        assertTrue(wrongSum.contains("do not add up to the 4 rows"), wrongSum);
        assertArrayEquals(new long[] {0, 2, 2}, CollectiveArguments.offsets(new long[] {2, 0, 3}));
    }

    @Test
    void peersMustBeLocalRanks() {
        CollectiveArguments.checkPeer(EP, "root", 2);
        String message =
                assertThrows(
                                IllegalArgumentException.class,
                                () -> CollectiveArguments.checkPeer(EP, "dst", 3))
                        .getMessage();
        assertTrue(
                message.contains("dst 3 is not a local rank of group ep#1[4, 5, 6] (size 3)"),
                message);
    }
}
