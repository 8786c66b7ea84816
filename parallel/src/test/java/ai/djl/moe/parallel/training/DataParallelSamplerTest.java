package ai.djl.moe.parallel.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.dataset.BatchSampler;
import ai.djl.training.dataset.SequenceSampler;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Each data-parallel rank gets its contiguous slice of every global batch. */
class DataParallelSamplerTest {

    private static List<List<Long>> batches(int globalBatch, int rank, int size, boolean drop) {
        try (NDManager m = NDManager.newBaseManager()) {
            ArrayDataset dataset =
                    new ArrayDataset.Builder()
                            .setData(m.arange(10f))
                            .setSampling(globalBatch, false)
                            .build();
            DataParallelSampler sampler =
                    new DataParallelSampler(
                            new BatchSampler(new SequenceSampler(), globalBatch, drop), rank, size);
            assertEquals(globalBatch / size, sampler.getBatchSize());
            List<List<Long>> out = new ArrayList<>();
            Iterator<List<Long>> it = sampler.sample(dataset);
            while (it.hasNext()) {
                out.add(new ArrayList<>(it.next()));
            }
            return out;
        }
    }

    @Test
    void ranksSplitEachGlobalBatchInOrder() {
        assertEquals(List.of(List.of(0L, 1L), List.of(4L, 5L)), batches(4, 0, 2, true));
        assertEquals(List.of(List.of(2L, 3L), List.of(6L, 7L)), batches(4, 1, 2, true));
    }

    @Test
    void unevenBatchesAndRanksAreRefused() {
        String rank =
                assertThrows(IllegalArgumentException.class, () -> batches(4, 2, 2, true))
                        .getMessage();
        assertTrue(rank.contains("data-parallel rank 2 is outside [0, 2)"), rank);
        String global =
                assertThrows(IllegalArgumentException.class, () -> batches(3, 0, 2, true))
                        .getMessage();
        assertTrue(global.contains("global batch size 3 does not divide among 2 ranks"), global);
        String last =
                assertThrows(IllegalStateException.class, () -> batches(4, 0, 4, false))
                        .getMessage();
        assertTrue(last.contains("a batch of 2 items does not divide among 4"), last);
    }
}
