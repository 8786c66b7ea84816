package ai.djl.moe.examples.train;

import java.nio.file.Path;

/**
 * Checkpointing of a parallel training job.
 *
 * @param directory where checkpoints are written ({@code step-NNNNNN/} directories and a {@code
 *     latest} file), or {@code null} for none
 * @param every write one every this many steps (counted from step 0), 0 for the end of the run
 *     only; the end of the run is always written when {@code directory} is set
 * @param resumeFrom a checkpoint directory, or a root whose {@code latest} names one, to continue
 *     from, or {@code null} to start from the initial weights
 * @param reshard whether a checkpoint saved from another layout may be loaded (resharded)
 */
public record CheckpointOptions(Path directory, int every, Path resumeFrom, boolean reshard) {

    /** No checkpoints. */
    public static final CheckpointOptions NONE = new CheckpointOptions(null, 0, null, false);

    /**
     * Checks the options.
     *
     * @throws IllegalArgumentException when {@code every} is negative, or set without a directory
     */
    public CheckpointOptions {
        if (every < 0) {
            throw new IllegalArgumentException(
                    "--checkpoint-every must not be negative, got " + every);
        }
        if (every > 0 && directory == null) {
            throw new IllegalArgumentException("--checkpoint-every needs --checkpoint-dir");
        }
    }

    /**
     * Returns whether the job saves or loads checkpoints.
     *
     * @return true when a directory or a checkpoint to resume from is set
     */
    public boolean isActive() {
        return directory != null || resumeFrom != null;
    }
}
