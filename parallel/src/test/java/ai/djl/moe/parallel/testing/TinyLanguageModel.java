package ai.djl.moe.parallel.testing;

import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.nn.ColumnParallelLinear;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.moe.parallel.nn.RowParallelLinear;
import ai.djl.moe.parallel.nn.SequenceParallelReplicated;
import ai.djl.moe.parallel.nn.VocabParallelEmbedding;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.training.loss.Loss;
import ai.djl.util.PairList;
import java.util.Random;

/**
 * embedding -> linear (hidden to ffn) -> gelu -> linear (ffn to hidden) -> layer norm -> linear
 * (hidden to vocabulary) -> cross entropy, with full weights drawn from a seed: once from the
 * tensor-parallel blocks (vocab-parallel embedding, column, row, norm, column head, vocab-parallel
 * loss; the norm marked {@link SequenceParallelReplicated} under sequence parallelism), once from
 * plain DJL blocks on one device. Inputs are {@code [batch, sequence]} token ids; sequence
 * parallelism splits axis 0.
 */
public final class TinyLanguageModel {

    public static final int VOCABULARY = 16;
    public static final int HIDDEN = 8;
    public static final int FFN = 16;

    private final float[] embedding;
    private final float[] fc1Weight;
    private final float[] fc1Bias;
    private final float[] fc2Weight;
    private final float[] fc2Bias;
    private final float[] headWeight;
    private final float[] headBias;

    /**
     * Draws the full weights.
     *
     * @param seed the seed
     */
    public TinyLanguageModel(long seed) {
        Random random = new Random(seed);
        embedding = gaussian(random, VOCABULARY * HIDDEN, 1.0);
        fc1Weight = gaussian(random, FFN * HIDDEN, 0.4);
        fc1Bias = gaussian(random, FFN, 0.1);
        fc2Weight = gaussian(random, HIDDEN * FFN, 0.3);
        fc2Bias = gaussian(random, HIDDEN, 0.1);
        headWeight = gaussian(random, VOCABULARY * HIDDEN, 0.4);
        headBias = gaussian(random, VOCABULARY, 0.1);
    }

    private static float[] gaussian(Random random, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * scale);
        }
        return v;
    }

    /**
     * Builds the tensor-parallel model of one rank.
     *
     * @param tp the rank's tensor-parallel communicator
     * @param sequenceParallel whether activations are split along axis 0 between the embedding
     *     and the head
     * @return the model's block (load the weights with {@link #loadParallel} after initializing)
     */
    public static SequentialBlock parallel(Communicator tp, boolean sequenceParallel) {
        return new SequentialBlock()
                .add(
                        VocabParallelEmbedding.builder()
                                .setGroup(tp)
                                .setNumEmbeddings(VOCABULARY)
                                .setEmbeddingSize(HIDDEN)
                                .optSequenceParallel(sequenceParallel)
                                .build())
                .add(
                        ColumnParallelLinear.builder()
                                .setGroup(tp)
                                .setInFeatures(HIDDEN)
                                .setOutFeatures(FFN)
                                .optSequenceParallel(sequenceParallel)
                                .build())
                .add(new LambdaBlock(Activation::gelu, "gelu"))
                .add(
                        RowParallelLinear.builder()
                                .setGroup(tp)
                                .setInFeatures(FFN)
                                .setOutFeatures(HIDDEN)
                                .optSequenceParallel(sequenceParallel)
                                .build())
                .add(sequenceParallel ? new SequenceParallelReplicated(norm()) : norm())
                .add(
                        ColumnParallelLinear.builder()
                                .setGroup(tp)
                                .setInFeatures(HIDDEN)
                                .setOutFeatures(VOCABULARY)
                                .optSequenceParallel(sequenceParallel)
                                .build());
    }

    /**
     * Builds the same model from plain DJL blocks.
     *
     * @return the model's block (load the weights with {@link #loadReference} after initializing)
     */
    public static SequentialBlock reference() {
        return new SequentialBlock()
                .add(new PlainEmbedding())
                .add(Linear.builder().setUnits(FFN).build())
                .add(new LambdaBlock(Activation::gelu, "gelu"))
                .add(Linear.builder().setUnits(HIDDEN).build())
                .add(norm())
                .add(Linear.builder().setUnits(VOCABULARY).build());
    }

    /**
     * Loads each rank's shards of the full weights into an initialized parallel model.
     *
     * @param model the block from {@link #parallel}
     */
    public void loadParallel(SequentialBlock model) {
        try (NDManager scratch = NDManager.newBaseManager()) {
            ((VocabParallelEmbedding) child(model, 0)).loadFullParameters(table(scratch));
            ((ColumnParallelLinear) child(model, 1))
                    .loadFullParameters(
                            scratch.create(fc1Weight, new Shape(FFN, HIDDEN)),
                            scratch.create(fc1Bias));
            ((RowParallelLinear) child(model, 3))
                    .loadFullParameters(
                            scratch.create(fc2Weight, new Shape(HIDDEN, FFN)),
                            scratch.create(fc2Bias));
            ((ColumnParallelLinear) child(model, 5))
                    .loadFullParameters(
                            scratch.create(headWeight, new Shape(VOCABULARY, HIDDEN)),
                            scratch.create(headBias));
        }
    }

    /**
     * Loads the full weights into an initialized reference model.
     *
     * @param model the block from {@link #reference}
     */
    public void loadReference(SequentialBlock model) {
        try (NDManager scratch = NDManager.newBaseManager()) {
            set(parameter(child(model, 0), "weight"), table(scratch));
            set(
                    parameter(child(model, 1), "weight"),
                    scratch.create(fc1Weight, new Shape(FFN, HIDDEN)));
            set(parameter(child(model, 1), "bias"), scratch.create(fc1Bias));
            set(
                    parameter(child(model, 3), "weight"),
                    scratch.create(fc2Weight, new Shape(HIDDEN, FFN)));
            set(parameter(child(model, 3), "bias"), scratch.create(fc2Bias));
            set(
                    parameter(child(model, 5), "weight"),
                    scratch.create(headWeight, new Shape(VOCABULARY, HIDDEN)));
            set(parameter(child(model, 5), "bias"), scratch.create(headBias));
        }
    }

    /** Layer normalization over the hidden axis (gamma 1 and beta 0 on every rank at first). */
    private static Block norm() {
        return LayerNorm.builder().axis(2).build();
    }

    private NDArray table(NDManager m) {
        return m.create(embedding, new Shape(VOCABULARY, HIDDEN));
    }

    private static Block child(SequentialBlock model, int index) {
        return model.getChildren().get(index).getValue();
    }

    private static Parameter parameter(Block block, String name) {
        return block.getParameters().get(name);
    }

    private static void set(Parameter parameter, NDArray values) {
        ParameterValues.overwrite(parameter.getArray(), values);
    }

    /** Mean cross entropy over all tokens, from logits over the full vocabulary. */
    public static Loss referenceLoss() {
        return new Loss("cross-entropy") {
            @Override
            public NDArray evaluate(NDList labels, NDList predictions) {
                NDArray logProbabilities = predictions.singletonOrThrow().logSoftmax(-1);
                NDArray target =
                        labels.singletonOrThrow()
                                .toType(DataType.INT64, false)
                                .oneHot(VOCABULARY, DataType.FLOAT32);
                return logProbabilities.mul(target).sum(new int[] {-1}).neg().mean();
            }
        };
    }

    /** A plain embedding table: rows of its weight picked by integer ids. */
    private static final class PlainEmbedding extends AbstractBlock {
        private final Parameter weight;

        PlainEmbedding() {
            weight =
                    addParameter(
                            Parameter.builder()
                                    .setName("weight")
                                    .setType(Parameter.Type.WEIGHT)
                                    .optShape(new Shape(VOCABULARY, HIDDEN))
                                    .build());
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore store, NDList inputs, boolean training, PairList<String, Object> p) {
            NDArray ids = inputs.head().toType(DataType.INT64, false);
            NDArray table = store.getValue(weight, ids.getDevice(), training);
            return new NDList(table.get(ids.flatten()).reshape(ids.getShape().add(HIDDEN)));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {inputShapes[0].add(HIDDEN)};
        }
    }
}
