package ai.djl.moe.nn.loss;

import ai.djl.moe.autograd.ScalarOps;
import ai.djl.ndarray.NDArray;
import java.util.ArrayList;
import java.util.List;

/**
 * Collects the auxiliary losses (load balancing, z-loss) that MoE blocks compute during a training
 * forward pass, until {@link MoeLoss} adds them to the training loss and drains the recorder.
 *
 * <p>Share one recorder between all MoE blocks of a model and its {@link MoeLoss}. Blocks record
 * only in training mode, so inference never accumulates entries.
 */
public final class AuxLossRecorder {

    private final List<AuxLoss> entries = new ArrayList<>();

    /**
     * Records one auxiliary loss.
     *
     * @param loss the loss (its value keeps the autograd graph)
     */
    public synchronized void record(AuxLoss loss) {
        entries.add(loss);
    }

    /**
     * Returns the losses recorded since the last drain, without removing them.
     *
     * @return a copy of the recorded losses
     */
    public synchronized List<AuxLoss> peek() {
        return new ArrayList<>(entries);
    }

    /**
     * Removes and returns the losses recorded since the last drain.
     *
     * @return the recorded losses in recording order
     */
    public synchronized List<AuxLoss> drain() {
        List<AuxLoss> out = new ArrayList<>(entries);
        entries.clear();
        return out;
    }

    /** Discards the recorded losses (e.g. after an evaluation pass run in training mode). */
    public synchronized void clear() {
        entries.clear();
    }

    /**
     * One auxiliary loss of one block.
     *
     * @param source the name of the block that recorded it
     * @param kind what it measures, e.g. {@code "load_balancing"} or {@code "z_loss"}
     * @param value the unscaled loss, a scalar
     * @param coefficient the factor applied when it is added to the training loss
     */
    public record AuxLoss(String source, String kind, NDArray value, float coefficient) {

        /**
         * Returns the loss as added to the training loss.
         *
         * @return {@code coefficient * value}
         */
        public NDArray scaled() {
            return ScalarOps.mul(value, coefficient);
        }
    }
}
