package ai.djl.moe.examples.train;

import ai.djl.Device;
import ai.djl.moe.optimizer.StatefulAdam;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.zoo.checkpoint.Checkpoint;
import ai.djl.moe.zoo.checkpoint.CheckpointLayout;
import ai.djl.moe.zoo.checkpoint.CheckpointStorage;
import ai.djl.moe.zoo.checkpoint.CheckpointWriter;
import ai.djl.moe.zoo.checkpoint.InvalidCheckpointException;
import ai.djl.moe.zoo.checkpoint.ParallelRankAgreement;
import ai.djl.moe.zoo.checkpoint.ShardMap;
import ai.djl.moe.zoo.checkpoint.TrainingProgress;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.parallel.FullWeights;
import ai.djl.moe.zoo.parallel.ShardedModel;
import ai.djl.ndarray.types.Shape;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * One rank's checkpointing in a {@link ParallelTrainingJob}: where its parameters sit in the full
 * model, where the run starts (a checkpoint or the initial weights), and saving.
 */
final class RankCheckpoints {

    private final CheckpointOptions options;
    private final long seed;
    private final MoeModelConfig config;
    private final ParallelContext context;
    private final Device device;
    private ShardMap shards;
    private StatefulAdam optimizer;

    RankCheckpoints(
            CheckpointOptions options,
            long seed,
            MoeModelConfig config,
            ParallelContext context,
            Device device) {
        this.options = options;
        this.seed = seed;
        this.config = config;
        this.context = context;
        this.device = device;
    }

    /**
     * Loads the rank's starting state into the initialized model and optimizer: the checkpoint to
     * resume from, else the initial full weights.
     *
     * @return the step the run starts after
     */
    int start(
            ShardedModel block,
            Map<String, Shape> fullShapes,
            FullWeights weights,
            StatefulAdam adam)
            throws IOException {
        optimizer = adam;
        if (options.isActive()) {
            shards = ShardMap.probe(block, fullShapes, context);
        }
        if (options.resumeFrom() == null) {
            block.loadFullParameters(weights);
            return 0;
        }
        Checkpoint checkpoint = Checkpoint.open(options.resumeFrom());
        checkpoint.checkCompatible(config, layout(), options.reshard());
        TrainingProgress progress = checkpoint.getManifest().progress();
        if (progress.seed() != seed) {
            throw new InvalidCheckpointException(
                    "checkpoint "
                            + checkpoint.getDirectory()
                            + " was trained with --seed "
                            + progress.seed()
                            + " (its data order); this run has --seed "
                            + seed);
        }
        checkpoint.restore(shards, adam);
        return progress.step();
    }

    /** The last step of the segment that starts after {@code step}, before {@code end}. */
    int segmentEnd(int step, int end) {
        int every = options.every();
        return every == 0 ? end : Math.min(end, (step / every + 1) * every);
    }

    /** Saves after {@code step} when a directory is set; returns the checkpoint or null. */
    Path save(int step) throws IOException {
        if (options.directory() == null) {
            return null;
        }
        CheckpointWriter writer =
                new CheckpointWriter(
                        options.directory(),
                        CheckpointStorage.files(),
                        new ParallelRankAgreement(context, device),
                        context.getRank());
        return writer.save(
                shards, optimizer, config, layout(), new TrainingProgress(step, seed, step));
    }

    private CheckpointLayout layout() {
        return CheckpointLayout.of(context.getConfig());
    }
}
