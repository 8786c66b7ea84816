package ai.djl.moe.parallel.pipeline;

import ai.djl.Model;
import ai.djl.moe.autograd.MoeGradientCollector;
import ai.djl.moe.autograd.RecordedGraph;
import ai.djl.moe.bridge.AtenOps;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.nn.ParameterValues;
import ai.djl.moe.parallel.training.ParallelContext;
import ai.djl.moe.parallel.training.ParallelTrainer;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataDesc;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import ai.djl.training.TrainingConfig;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A {@link ParallelTrainer} for one rank of a pipeline-parallel job: its model's block is this
 * rank's {@link PipelineStage}, and its {@link #forward(NDList, NDList)} runs a whole step's 1F1B
 * schedule ({@link OneForwardOneBackward}) over the pipeline group ({@link GroupKind#PP}). {@code
 * EasyTrain.fit} drives it unchanged; its {@code trainBatch} maps onto the schedule so:
 *
 * <ol>
 *   <li>{@code newGradientCollector()} opens a collector (grad mode on) for the batch;
 *   <li>{@code forward(data, labels)} cuts the batch into the micro-batches, runs every forward
 *       pass (receiving activations from the previous stage with {@code recv}, sending them on with
 *       {@code send}) and every backward pass (each micro-batch's recorded graph, see {@link
 *       RecordedGraph}, back-propagated with the gradient received from the next stage, the last
 *       stage's objective scaled by {@code 1 / m}) in 1F1B order, so the parameters' gradients
 *       accumulate to those of the whole batch; it returns {@code [loss, reported...]}, the means
 *       over the micro-batches broadcast from the last stage, the same on every stage;
 *   <li>{@code loss.evaluate} ({@link PipelineLoss}) returns that loss;
 *   <li>{@code collector.backward(loss)} has nothing left to do;
 *   <li>{@code step()} adds the gradients of the stage's {@link SharedParameter}s across their two
 *       stages, reduces the gradients over data and expert-data parallelism ({@link
 *       ParallelTrainer}) and updates the parameters.
 * </ol>
 *
 * <p>Every rank of a pipeline gets the same batches (each data-parallel rank its own slice). The
 * local batch must divide by the number of micro-batches. Each step's measurements are kept ({@link
 * #getStatistics()}). Evaluation ({@code evaluate}, a validation set) is not supported.
 */
public class PipelineTrainer extends ParallelTrainer {

    private final PipelineStage stage;
    private final int microBatches;
    private final Communicator pipeline;
    private final List<PipelineStepStatistics> statistics = new ArrayList<>();
    private NDArray scheduleLoss;

    /**
     * Creates the trainer of one rank.
     *
     * @param model the model, whose block is this rank's {@link PipelineStage}
     * @param config the training configuration, with a {@link PipelineLoss}
     * @param context this rank's parallel context
     * @param microBatches the micro-batches of every step
     * @throws IllegalArgumentException when the block is not a stage, the loss not a {@link
     *     PipelineLoss} or the micro-batches not positive
     */
    public PipelineTrainer(
            Model model, TrainingConfig config, ParallelContext context, int microBatches) {
        super(model, config, context);
        if (!(model.getBlock() instanceof PipelineStage)) {
            throw new IllegalArgumentException(
                    "a PipelineTrainer needs a PipelineStage block, got "
                            + model.getBlock().getClass().getName());
        }
        if (!(config.getLossFunction() instanceof PipelineLoss)) {
            throw new IllegalArgumentException(
                    "a PipelineTrainer's configuration needs a PipelineLoss (the stages compute the"
                            + " real loss), got "
                            + config.getLossFunction().getClass().getName());
        }
        if (microBatches < 1) {
            throw new IllegalArgumentException(
                    "micro-batches must be positive, got " + microBatches);
        }
        this.stage = (PipelineStage) model.getBlock();
        this.microBatches = microBatches;
        this.pipeline = context.communicator(GroupKind.PP);
    }

    /**
     * Returns the number of micro-batches of every step.
     *
     * @return the micro-batches
     */
    public int getMicroBatches() {
        return microBatches;
    }

    /**
     * Returns the measurements of every step run so far, in order.
     *
     * @return one entry per step
     */
    public List<PipelineStepStatistics> getStatistics() {
        return Collections.unmodifiableList(statistics);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Then each {@link SharedParameter} of the stage takes the values of the lower stage's twin.
     */
    @Override
    public void initialize(Shape... shapes) {
        super.initialize(shapes);
        for (SharedParameter shared : stage.sharedParameters()) {
            NDArray values = shared.parameter().getArray();
            int peer = shared.peerStage();
            if (pipeline.getRank() < peer) {
                pipeline.send(values, peer);
            } else {
                try (NDManager scratch = getManager().newSubManager()) {
                    ParameterValues.overwrite(
                            values,
                            pipeline.recv(scratch, peer, values.getShape(), values.getDataType()));
                }
            }
        }
    }

    /**
     * Adds the gradient of each {@link SharedParameter} and its twin's across the two stages (both
     * then hold the same sum: floating-point addition is commutative), then reduces the gradients
     * over their groups.
     */
    @Override
    protected void beforeUpdate() {
        for (SharedParameter shared : stage.sharedParameters()) {
            NDArray gradient = shared.parameter().getArray().getGradient();
            int peer = shared.peerStage();
            try (NDManager scratch = getManager().newSubManager()) {
                NDArray twin;
                // the lower stage sends first, the higher receives first
                if (pipeline.getRank() < peer) {
                    pipeline.send(gradient, peer);
                    twin =
                            pipeline.recv(
                                    scratch, peer, gradient.getShape(), gradient.getDataType());
                } else {
                    twin =
                            pipeline.recv(
                                    scratch, peer, gradient.getShape(), gradient.getDataType());
                    pipeline.send(gradient, peer);
                }
                gradient.addi(twin);
            }
        }
        super.beforeUpdate();
    }

    /** {@inheritDoc} */
    @Override
    public GradientCollector newGradientCollector() {
        return new PipelineGradientCollector(this);
    }

    boolean isScheduleLoss(NDArray array) {
        return array != null && array == scheduleLoss;
    }

    /**
     * Not supported: a stage needs the labels (the last stage computes the loss).
     *
     * @param input the input
     * @return never
     * @throws UnsupportedOperationException always
     */
    @Override
    public NDList forward(NDList input) {
        throw new UnsupportedOperationException(
                "a PipelineTrainer's forward runs the training schedule and needs the labels");
    }

    /**
     * Not supported: evaluation would need a forward-only schedule across the stages (pass no
     * validation set to {@code EasyTrain.fit}).
     *
     * @param input the input
     * @return never
     * @throws UnsupportedOperationException always
     */
    @Override
    public NDList evaluate(NDList input) {
        throw new UnsupportedOperationException(
                "a PipelineTrainer has no forward-only schedule: train without a validation set");
    }

    /**
     * Runs one step's pipeline schedule on this rank: every micro-batch's forward and backward
     * pass. A gradient collector must be open on this thread (EasyTrain opens {@link
     * #newGradientCollector()}).
     *
     * @param data the batch's data
     * @param labels the batch's labels
     * @return {@code [loss, reported...]}: scalars, means over the micro-batches, the same on every
     *     stage
     * @throws IllegalStateException when no collector is open
     * @throws IllegalArgumentException when the batch does not divide into the micro-batches
     */
    @Override
    public NDList forward(NDList data, NDList labels) {
        if (!MoeGradientCollector.isCollecting()) {
            throw new IllegalStateException(
                    "PipelineTrainer.forward runs backward passes: open newGradientCollector()"
                            + " first");
        }
        long batch = data.head().getShape().get(0);
        if (batch % microBatches != 0) {
            throw new IllegalArgumentException(
                    "the batch of "
                            + batch
                            + " does not divide into "
                            + microBatches
                            + " micro-batches");
        }
        NDManager batchManager = data.head().getManager();
        StageRun run = new StageRun(batch / microBatches, data, labels);
        long start = System.nanoTime();
        for (PipelineOp op :
                OneForwardOneBackward.schedule(
                        pipeline.getSize(), pipeline.getRank(), microBatches)) {
            if (op.kind() == PipelineOp.Kind.FORWARD) {
                run.forward(op.microBatch());
            } else {
                run.backward(op.microBatch());
            }
        }
        long scheduleNanos = System.nanoTime() - start;
        statistics.add(
                new PipelineStepStatistics(
                        pipeline.getSize(),
                        microBatches,
                        scheduleNanos,
                        run.waitNanos,
                        run.peakActivationBytes));
        NDList result = run.result(batchManager);
        scheduleLoss = result.head();
        return result;
    }

    private boolean isLastStage() {
        return pipeline.getRank() == pipeline.getSize() - 1;
    }

    /** The state of one step's schedule on this rank. */
    private final class StageRun {

        private final long microBatchSize;
        private final NDList data;
        private final NDList labels;
        private final MicroBatch[] inFlight = new MicroBatch[microBatches];
        private final double[] sums = new double[1 + stage.reportedValues()];
        private long waitNanos;
        private long peakActivationBytes;

        StageRun(long microBatchSize, NDList data, NDList labels) {
            this.microBatchSize = microBatchSize;
            this.data = data;
            this.labels = labels;
        }

        void forward(int index) {
            MicroBatch mb = new MicroBatch(getManager().newSubManager());
            inFlight[index] = mb;
            NDList inputs = slice(data, index, mb.manager);
            NDList mbLabels = slice(labels, index, mb.manager);
            Shape[] shapes = inputs.getShapes();
            if (pipeline.getRank() > 0) {
                for (DataDesc desc : stage.receivedArrays(shapes)) {
                    NDArray received = recv(mb.manager, pipeline.getRank() - 1, desc);
                    if (received.getDataType().isFloating()) {
                        received.setRequiresGradient(true);
                    }
                    mb.received.add(received);
                    inputs.add(received);
                }
            }
            NDList out = mb.graph.record(() -> PipelineTrainer.super.forward(inputs, mbLabels));
            mb.outputs = out;
            if (isLastStage()) {
                for (int i = 0; i < sums.length; i++) {
                    sums[i] += out.get(i).getFloat();
                }
            } else {
                for (NDArray x : out) {
                    pipeline.send(x, pipeline.getRank() + 1);
                }
            }
            long bytes = 0;
            for (MicroBatch live : inFlight) {
                if (live != null) {
                    bytes += live.bytes();
                }
            }
            peakActivationBytes = Math.max(peakActivationBytes, bytes);
        }

        void backward(int index) {
            MicroBatch mb = inFlight[index];
            try (NDManager manager = mb.manager) {
                NDList targets = new NDList();
                NDList gradients = new NDList();
                if (isLastStage()) {
                    NDArray objective = mb.outputs.head();
                    targets.add(objective);
                    gradients.add(
                            manager.full(
                                    objective.getShape(),
                                    1f / microBatches,
                                    objective.getDataType()));
                } else {
                    for (NDArray sent : mb.outputs) {
                        if (sent.getDataType().isFloating()) {
                            targets.add(sent);
                            gradients.add(
                                    recv(
                                            manager,
                                            pipeline.getRank() + 1,
                                            new DataDesc(sent.getShape(), sent.getDataType())));
                        }
                    }
                }
                mb.graph.backward(targets, gradients);
                if (pipeline.getRank() > 0) {
                    for (NDArray received : mb.received) {
                        if (received.getDataType().isFloating()) {
                            NDArray gradient = JniUtils.getGradient((PtNDArray) received);
                            if (gradient == null) {
                                gradient = AtenOps.zerosLike(received);
                            }
                            gradient.attach(manager);
                            pipeline.send(gradient, pipeline.getRank() - 1);
                        }
                    }
                }
            }
            inFlight[index] = null;
        }

        private NDArray recv(NDManager manager, int source, DataDesc desc) {
            long begin = System.nanoTime();
            NDArray received = pipeline.recv(manager, source, desc.getShape(), desc.getDataType());
            waitNanos += System.nanoTime() - begin;
            return received;
        }

        private NDList slice(NDList arrays, int index, NDManager manager) {
            NDList parts = new NDList(arrays.size());
            long from = index * microBatchSize;
            for (NDArray array : arrays) {
                NDArray part = array.get(new NDIndex("{}:{}", from, from + microBatchSize));
                part.attach(manager);
                parts.add(part);
            }
            return parts;
        }

        /** The means over the micro-batches, broadcast from the last stage. */
        NDList result(NDManager manager) {
            float[] means = new float[sums.length];
            for (int i = 0; i < means.length; i++) {
                means[i] = (float) (sums[i] / microBatches);
            }
            NDArray values = manager.create(means);
            if (pipeline.getSize() > 1) {
                try (NDArray local = values) {
                    values = pipeline.broadcast(local, pipeline.getSize() - 1);
                }
                values.attach(manager);
            }
            NDList result = new NDList(means.length);
            for (int i = 0; i < means.length; i++) {
                result.add(values.get(i));
            }
            return result;
        }
    }

    /** One micro-batch in flight: its arrays, its recorded graph, what it received and sent. */
    private static final class MicroBatch {

        final NDManager manager;
        final RecordedGraph graph = new RecordedGraph();
        final NDList received = new NDList();
        NDList outputs;

        MicroBatch(NDManager manager) {
            this.manager = manager;
        }

        long bytes() {
            long total = 0;
            for (NDArray array : manager.getManagedArrays()) {
                if (!array.isReleased()) {
                    total += array.size() * dataTypeBytes(array);
                }
            }
            return total;
        }

        private static long dataTypeBytes(NDArray array) {
            DataType type = array.getDataType();
            return type == DataType.UNKNOWN ? 2 : type.getNumOfBytes();
        }
    }
}
