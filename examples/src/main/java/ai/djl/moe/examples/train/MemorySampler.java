package ai.djl.moe.examples.train;

import ai.djl.training.Trainer;
import ai.djl.training.listener.TrainingListener.BatchData;
import ai.djl.training.listener.TrainingListenerAdapter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Consumer;

/**
 * A training listener that measures the process's memory every {@code every} batches (DJL calls
 * it after the batch's backward pass) and hands each {@link MemorySample} to a consumer.
 */
public final class MemorySampler extends TrainingListenerAdapter {

    private final int every;
    private final Consumer<MemorySample> consumer;
    private final List<MemorySample> samples = new ArrayList<>();
    private long batches;

    /**
     * Creates a sampler.
     *
     * @param every batches between samples (at least 1)
     * @param consumer told of each sample as it is taken
     */
    public MemorySampler(int every, Consumer<MemorySample> consumer) {
        if (every < 1) {
            throw new IllegalArgumentException("--every must be positive, got " + every);
        }
        this.every = every;
        this.consumer = consumer;
    }

    /** {@inheritDoc} */
    @Override
    public void onTrainingBatch(Trainer trainer, BatchData batchData) {
        if (++batches % every == 0) {
            MemorySample sample = MemorySample.take(batches);
            samples.add(sample);
            consumer.accept(sample);
        }
    }

    /**
     * Returns the samples taken so far.
     *
     * @return them, in step order
     */
    public List<MemorySample> getSamples() {
        return Collections.unmodifiableList(samples);
    }
}
