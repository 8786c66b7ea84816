package ai.djl.moe.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Membership, local ranks and validation of a {@link ProcessGroup}. */
class ProcessGroupTest {

    @Test
    void localRankIsThePositionInTheList() {
        ProcessGroup group = new ProcessGroup("ep", 1, new int[] {1, 3, 5, 7});
        assertEquals(4, group.size());
        assertEquals(2, group.localRank(5));
        assertEquals(7, group.globalRank(3));
        assertTrue(group.contains(3));
        assertFalse(group.contains(2));
        assertEquals("ep#1[1, 3, 5, 7]", group.toString());
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> group.localRank(2));
        assertTrue(e.getMessage().contains("rank 2 is not in group ep#1[1, 3, 5, 7]"));
    }

    @Test
    void ranksAreCopiedInAndOut() {
        int[] ranks = {0, 1};
        ProcessGroup group = new ProcessGroup("tp", 0, ranks);
        ranks[0] = 9;
        group.getRanks()[1] = 9;
        assertArrayEquals(new int[] {0, 1}, group.getRanks());
    }

    @Test
    void emptyNegativeOrRepeatedRanksAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new ProcessGroup("x", 0, new int[0]));
        assertThrows(
                IllegalArgumentException.class, () -> new ProcessGroup("x", 0, new int[] {-1}));
        assertThrows(
                IllegalArgumentException.class, () -> new ProcessGroup("x", 0, new int[] {2, 2}));
    }
}
