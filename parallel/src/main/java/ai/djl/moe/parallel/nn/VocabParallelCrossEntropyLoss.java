package ai.djl.moe.parallel.nn;

import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.loss.Loss;

/**
 * Mean cross entropy over all tokens of logits whose vocabulary is split over a tensor-parallel
 * group (e.g. the output of a {@link ColumnParallelLinear} without a gathered output), computed
 * without gathering the logits. Every member gets the same loss; the gradient of the logits is
 * this member's slice.
 *
 * <p>Predictions: the logits {@code [..., V/tp]}; labels: integer token ids {@code [...]} in
 * {@code [0, V)}.
 */
public class VocabParallelCrossEntropyLoss extends Loss {

    private final Communicator group;

    /**
     * Creates the loss.
     *
     * @param name the loss's display name
     * @param group this rank's communicator over its tensor-parallel group
     */
    public VocabParallelCrossEntropyLoss(String name, Communicator group) {
        super(name);
        this.group = group;
    }

    /**
     * Returns the cross entropy of every token (not averaged).
     *
     * @param logits this member's slice of the logits, {@code [..., V/tp]}
     * @param labels the token ids, {@code [...]}
     * @return the per-token loss, {@code [...]}
     */
    public NDArray perToken(NDArray logits, NDArray labels) {
        return new VocabParallelCrossEntropy(group).apply(new NDList(logits, labels)).head();
    }

    /** {@inheritDoc} */
    @Override
    public NDArray evaluate(NDList labels, NDList predictions) {
        return perToken(predictions.singletonOrThrow(), labels.singletonOrThrow()).mean();
    }
}
