package ai.djl.moe.examples.train;

import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.bridge.TensorInfo;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.parallel.training.ParallelTraining;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.parallel.ParallelMoeCausalLm;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Random;

/**
 * The activation memory of one training step of {@link ParallelMoeCausalLm} on each simulated rank:
 * after the forward pass and the loss (autograd recording, before backward), the bytes of distinct
 * memory that the rank's live NDArrays reference (views of one buffer counted once), less its
 * parameters. Tensors that libtorch keeps for backward inside a fused operation without a DJL
 * handle (e.g. the log-sum-exp of {@code scaled_dot_product_attention}) are not seen.
 */
public final class ActivationMemory {

    private ActivationMemory() {}

    /**
     * Measures every rank of a layout on the local backend.
     *
     * @param config the model
     * @param parallel the folded layout, sequence parallelism, key/value exchange and timeout
     * @param batch the batch size
     * @param sequence the sequence length
     * @return the activation bytes of each rank, in rank order
     * @throws IllegalArgumentException when the model cannot be folded this way
     */
    public static long[] measure(
            MoeModelConfig config, ParallelOptions parallel, int batch, int sequence) {
        List<Long> bytes =
                ParallelTraining.run(
                        parallel.config(),
                        parallel.timeout(),
                        ctx -> measureRank(ctx, config, parallel, batch, sequence));
        return bytes.stream().mapToLong(Long::longValue).toArray();
    }

    private static long measureRank(
            ParallelContext ctx,
            MoeModelConfig config,
            ParallelOptions parallel,
            int batch,
            int sequence) {
        try (NDManager rank = NDManager.newBaseManager()) {
            RankModel model = RankModel.of(ctx, config, parallel);
            Block block = model.block();
            Shape input = new Shape(batch, sequence);
            block.initialize(rank, DataType.FLOAT32, input);
            List<NDArray> parameters = new ArrayList<>();
            for (Pair<String, Parameter> p : block.getParameters()) {
                parameters.add(p.getValue().getArray());
            }
            long[] tokens = new long[batch * sequence];
            Random random = new Random(1);
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = random.nextInt(config.getVocabSize());
            }
            try (NDManager step = rank.newSubManager();
                    MoeGradientCollector collector = new MoeGradientCollector()) {
                NDList ids = new NDList(step.create(tokens, input));
                NDList out = block.forward(new ParameterStore(rank, false), ids, true);
                model.loss().evaluate(ids, out);
                return distinctBytes(rank.getManagedArrays()) - distinctBytes(parameters);
            }
        }
    }

    /**
     * Returns the bytes of memory that some array references, each byte counted once however many
     * views reach it.
     *
     * @param arrays the arrays (open)
     * @return the size of the union of their extents
     */
    public static long distinctBytes(Collection<NDArray> arrays) {
        List<long[]> extents = new ArrayList<>();
        for (NDArray array : arrays) {
            TensorInfo info = TensorInfo.of(array);
            if (info.numel() == 0) {
                continue;
            }
            long last = 0;
            long[] sizes = info.getSizes();
            long[] strides = info.getStrides();
            for (int i = 0; i < sizes.length; i++) {
                last += (sizes[i] - 1) * strides[i];
            }
            long start = info.getDataPointer();
            extents.add(new long[] {start, start + (last + 1) * info.getDtype().numBytes()});
        }
        extents.sort((a, b) -> Long.compare(a[0], b[0]));
        long total = 0;
        long coveredTo = Long.MIN_VALUE;
        for (long[] extent : extents) {
            long from = Math.max(extent[0], coveredTo);
            if (extent[1] > from) {
                total += extent[1] - from;
                coveredTo = extent[1];
            }
        }
        return total;
    }
}
