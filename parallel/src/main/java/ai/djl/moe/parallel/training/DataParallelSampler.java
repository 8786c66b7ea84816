package ai.djl.moe.parallel.training;

import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.training.dataset.Sampler;
import java.util.Iterator;
import java.util.List;

/**
 * Gives one data-parallel rank its contiguous slice of every global batch: with {@code D} ranks,
 * rank {@code d} gets items {@code [d*B/D, (d+1)*B/D)} of each batch of {@code B} the inner sampler
 * yields. The inner sampler must yield the same batches on every rank (sequential, or random with
 * the same seed).
 *
 * <pre>{@code
 * Sampler global = new BatchSampler(new SequenceSampler(), globalBatch, true);
 * dataset = new ArrayDataset.Builder().setData(x).optLabels(y)
 *         .setSampling(new DataParallelSampler(global, ctx.getDataParallelRank(),
 *                 ctx.getDataParallelSize()))
 *         .build();
 * }</pre>
 */
public final class DataParallelSampler implements Sampler {

    private final Sampler global;
    private final int rank;
    private final int size;

    /**
     * Creates a sampler.
     *
     * @param global the sampler of global batches, the same on every rank
     * @param rank this rank's data-parallel index
     * @param size the number of data-parallel ranks
     * @throws IllegalArgumentException when the rank is out of range, or the global batch size is
     *     fixed and does not divide among the ranks
     */
    public DataParallelSampler(Sampler global, int rank, int size) {
        if (size < 1 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException(
                    "data-parallel rank " + rank + " is outside [0, " + size + ")");
        }
        int batch = global.getBatchSize();
        if (batch > 0 && batch % size != 0) {
            throw new IllegalArgumentException(
                    "global batch size " + batch + " does not divide among " + size + " ranks");
        }
        this.global = global;
        this.rank = rank;
        this.size = size;
    }

    /** {@inheritDoc} */
    @Override
    public Iterator<List<Long>> sample(RandomAccessDataset dataset) {
        Iterator<List<Long>> batches = global.sample(dataset);
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return batches.hasNext();
            }

            @Override
            public List<Long> next() {
                List<Long> batch = batches.next();
                if (batch.size() % size != 0) {
                    throw new IllegalStateException(
                            "a batch of "
                                    + batch.size()
                                    + " items does not divide among "
                                    + size
                                    + " data-parallel ranks (drop the last batch)");
                }
                int part = batch.size() / size;
                return batch.subList(rank * part, (rank + 1) * part);
            }
        };
    }

    /** {@inheritDoc} */
    @Override
    public int getBatchSize() {
        int batch = global.getBatchSize();
        return batch > 0 ? batch / size : batch;
    }
}
