package ai.djl.moe.examples.cli;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.moe.autograd.MoeTrainer;
import ai.djl.moe.autograd.ScalarOps;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.moe.cuda.CudaGroupedExpertCompute;
import ai.djl.moe.cuda.CudaTimer;
import ai.djl.moe.nn.precision.MixedPrecision;
import ai.djl.moe.optimizer.StatefulAdam;
import ai.djl.moe.zoo.config.MoeModelConfig;
import ai.djl.moe.zoo.model.MoeCausalLm;
import ai.djl.moe.zoo.model.MoeCausalLmLoss;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.tracker.Tracker;

import com.google.gson.JsonObject;

import java.util.Map;

/**
 * End-to-end training throughput and model FLOP utilisation (MFU) of a Mixtral-style model that
 * fits one H200 with fp32 master weights and Adam ({@link MfuModel}: Mixtral-8x7B's ratios at half
 * the width in 8 layers, or Mixtral-8x7B's own layers, 3 of them), sequences of 2048 tokens (4 per
 * micro-batch unless asked otherwise), bf16 mixed precision ({@link MixedPrecision#BF16}).
 *
 * <p>Model FLOPs per token (PaLM, appendix B): {@code 6 N + 12 L d S}, with {@code N} the
 * parameters a token passes through in matrix products (attention projections, router, the top-k
 * experts' share of the expert weights, LM head; no embedding lookup), {@code L} layers, {@code d}
 * query heads x head size and {@code S} the sequence length (attention scores and values counted
 * without the causal half). MFU is that times tokens/s over a bf16 dense peak.
 */
final class TrainingMfuBench {

    /** NVIDIA's H200 SXM datasheet: dense BF16 tensor-core TFLOP/s (without sparsity). */
    static final double H200_DATASHEET_BF16_TFLOPS = 989;

    private static final int SEQ = 2048;

    private TrainingMfuBench() {}

    /**
     * Trains {@code warmup + steps} steps on random token ids and times the last {@code steps} with
     * CUDA events.
     *
     * @param mfuModel the model
     * @param layers its decoder layers
     * @param steps timed steps
     * @param warmup untimed steps first
     * @param microBatches forward and backward passes per optimizer step (gradient accumulation)
     * @param batch sequences of {@value #SEQ} tokens per micro-batch
     * @param sampleHost whether to sample where the host spends the timed steps ({@link
     *     HostSampler}, every 500 us)
     * @return the model, the FLOP formula and the figures
     * @throws InterruptedException when interrupted while the host sampler stops
     */
    static JsonObject run(
            MfuModel mfuModel,
            int layers,
            int steps,
            int warmup,
            int microBatches,
            int batch,
            boolean sampleHost)
            throws InterruptedException {
        MoeModelConfig config = mfuModel.config(layers);
        Device gpu = Device.gpu();
        JsonObject out = new JsonObject();
        try (Model model = Model.newInstance("mfu", gpu, "PyTorch");
                CudaTimer timer = new CudaTimer(0)) {
            MoeCausalLm block =
                    MoeCausalLm.builder()
                            .setConfig(config)
                            .optMixedPrecision(MixedPrecision.BF16)
                            .build();
            model.setBlock(block);
            DefaultTrainingConfig training =
                    new DefaultTrainingConfig(new MoeCausalLmLoss(config))
                            .optOptimizer(
                                    StatefulAdam.builder()
                                            .optLearningRateTracker(Tracker.fixed(1e-4f))
                                            .build())
                            .optDevices(new Device[] {gpu});
            try (Trainer trainer = new MoeTrainer(model, training)) {
                trainer.initialize(new Shape(batch, SEQ));
                double flopsPerToken =
                        describe(out, block, config, mfuModel.describe(layers), batch);
                // the loss is read once, after the timed steps (as Megatron reads it at its log
                // interval): a read in every step would make the host wait for the optimizer
                // before it queues the next forward pass
                NDArray loss = null;
                for (int i = 0; i < warmup; i++) {
                    loss = replace(loss, step(trainer, config, microBatches, batch));
                }
                HostSampler sampler =
                        sampleHost ? new HostSampler(Thread.currentThread(), 500) : null;
                int timedSites = CudaGroupedExpertCompute.timedGemmSites();
                int fallbacks = CudaGroupedExpertCompute.exactShapeGemmFallbacks();
                timer.start();
                for (int i = 0; i < steps; i++) {
                    loss = replace(loss, step(trainer, config, microBatches, batch));
                }
                double stepMillis = timer.stopMillis() / steps;
                out.addProperty("gemm_sites_timed_before_timed_steps", timedSites);
                out.addProperty(
                        "gemm_sites_timed_in_timed_steps",
                        CudaGroupedExpertCompute.timedGemmSites() - timedSites);
                out.addProperty(
                        "gemm_exact_shape_fallbacks_in_timed_steps",
                        CudaGroupedExpertCompute.exactShapeGemmFallbacks() - fallbacks);
                float lastLoss = loss == null ? Float.NaN : loss.getFloat() * microBatches;
                if (sampler != null) {
                    sampler.close();
                    out.add("host_profile", sampler.toJson());
                }
                long tokensPerStep = (long) microBatches * batch * SEQ;
                double tokensPerSecond = tokensPerStep / (stepMillis / 1e3);
                double tflops = flopsPerToken * tokensPerSecond / 1e12;
                out.addProperty("micro_batches_per_step", microBatches);
                out.addProperty("tokens_per_step", tokensPerStep);
                out.addProperty("step_ms", stepMillis);
                out.addProperty("tokens_per_second", tokensPerSecond);
                out.addProperty("model_tflops", tflops);
                out.addProperty("mfu_vs_datasheet_989", tflops / H200_DATASHEET_BF16_TFLOPS);
                out.addProperty("last_loss", lastLoss);
                out.add("phase_ms", phases(trainer, config, timer, steps, microBatches, batch));
            }
        }
        return out;
    }

    /** Writes the model and FLOP formula into {@code out}; returns the FLOPs per token. */
    private static double describe(
            JsonObject out, MoeCausalLm block, MoeModelConfig config, String model, int batch) {
        long total = 0;
        double active = 0;
        double expertShare = (double) config.getNumExpertsPerToken() / config.getNumExperts();
        for (Map.Entry<String, Parameter> e : block.getHfParameters().entrySet()) {
            long size = e.getValue().getArray().size();
            total += size;
            String name = e.getKey();
            if (name.contains(".experts.")) {
                active += size * expertShare;
            } else if (!name.contains("embed_tokens") && !name.contains("norm")) {
                active += size;
            }
        }
        long attentionWidth = (long) config.getNumAttentionHeads() * config.getHeadDim();
        double attention = 12.0 * config.getNumHiddenLayers() * attentionWidth * SEQ;
        double flopsPerToken = 6 * active + attention;
        out.addProperty(
                "model",
                model
                        + ", batch "
                        + batch
                        + " x seq 2048, bf16 mixed precision (fp32"
                        + " master weights, Adam as one fused CUDA kernel), one GPU");
        out.addProperty("parameters", total);
        out.addProperty("active_matmul_parameters_per_token", active);
        out.addProperty(
                "flop_formula",
                "per token 6*N + 12*L*d*S: N = active matmul parameters (attention, router,"
                        + " top-k/E of the experts, LM head; no embedding, no norms), L = layers,"
                        + " d = heads*head_dim, S = sequence length (PaLM appendix B, attention"
                        + " not halved for causality)");
        out.addProperty("flops_per_token", flopsPerToken);
        return flopsPerToken;
    }

    /**
     * Times the phases of {@code steps} more steps separately (each phase waits for the device, so
     * their sum exceeds the pipelined step time a little): forward with the loss and backward (per
     * micro-batch), and the optimizer step; {@code _host} is the time until each phase's call
     * returned.
     */
    private static JsonObject phases(
            Trainer trainer,
            MoeModelConfig config,
            CudaTimer timer,
            int steps,
            int microBatches,
            int batch) {
        // device time of each phase (CUDA events, waiting for the device at its end), and the
        // host time until the phase's call returned: close to the device time when the host is
        // what limits it
        double[] device = new double[3];
        double[] host = new double[3];
        for (int i = 0; i < steps; i++) {
            for (int mb = 0; mb < microBatches; mb++) {
                try (NDManager microBatch = trainer.getManager().newSubManager();
                        GradientCollector collector = trainer.newGradientCollector()) {
                    NDArray ids = randomIds(microBatch, config, batch);
                    timer.start();
                    long start = System.nanoTime();
                    NDArray value = microBatchLoss(trainer, ids, microBatches);
                    host[0] += (System.nanoTime() - start) / 1e6 / microBatches;
                    device[0] += timer.stopMillis() / microBatches;
                    timer.start();
                    start = System.nanoTime();
                    collector.backward(value);
                    host[1] += (System.nanoTime() - start) / 1e6 / microBatches;
                    device[1] += timer.stopMillis() / microBatches;
                }
            }
            timer.start();
            long start = System.nanoTime();
            trainer.step();
            host[2] += (System.nanoTime() - start) / 1e6;
            device[2] += timer.stopMillis();
        }
        String[] names = {"forward_and_loss", "backward", "optimizer_step"};
        JsonObject phases = new JsonObject();
        for (int p = 0; p < names.length; p++) {
            phases.addProperty(names[p], device[p] / steps);
            phases.addProperty(names[p] + "_host", host[p] / steps);
        }
        return phases;
    }

    /** Closes the previous step's loss and returns the new one. */
    private static NDArray replace(NDArray previous, NDArray next) {
        if (previous != null) {
            previous.close();
        }
        return next;
    }

    /**
     * One optimizer step over {@code microBatches} micro-batches, each with its own arrays (freed
     * before the next one starts); returns the last micro-batch's loss (divided by the number of
     * micro-batches), not read, in the trainer's manager.
     */
    private static NDArray step(
            Trainer trainer, MoeModelConfig config, int microBatches, int batch) {
        NDManager microBatch = null;
        try {
            NDArray last = null;
            for (int mb = 0; mb < microBatches; mb++) {
                if (microBatch != null) {
                    microBatch.close();
                }
                microBatch = trainer.getManager().newSubManager();
                NDArray ids = randomIds(microBatch, config, batch);
                try (GradientCollector collector = trainer.newGradientCollector()) {
                    last = microBatchLoss(trainer, ids, microBatches);
                    collector.backward(last);
                }
            }
            trainer.step();
            last.attach(trainer.getManager());
            return last;
        } finally {
            if (microBatch != null) {
                microBatch.close();
            }
        }
    }

    /** The loss of one micro-batch, divided by their number (gradients are accumulated). */
    private static NDArray microBatchLoss(Trainer trainer, NDArray ids, int microBatches) {
        NDList predictions = trainer.forward(new NDList(ids));
        NDArray value = trainer.getLoss().evaluate(new NDList(ids), predictions);
        return microBatches == 1 ? value : ScalarOps.div(value, microBatches);
    }

    private static NDArray randomIds(NDManager manager, MoeModelConfig config, int batch) {
        return manager.randomInteger(
                0, config.getVocabSize(), new Shape(batch, SEQ), DataType.INT64);
    }

    /**
     * Measures the dense bf16 peak through DJL: median TFLOP/s of {@code 8192^3} products.
     *
     * @param manager a manager on the GPU
     * @param timer the CUDA timer
     * @param samples timed samples of 10 products
     * @return TFLOP/s
     */
    static double denseBf16Tflops(NDManager manager, CudaTimer timer, int samples) {
        try (NDArray a = BFloat16.toBFloat16(manager.randomNormal(new Shape(8192, 8192)))) {
            double[] ms = new double[samples];
            for (int i = -1; i < samples; i++) {
                timer.start();
                for (int r = 0; r < 10; r++) {
                    a.matMul(a).close();
                }
                double t = timer.stopMillis() / 10;
                if (i >= 0) {
                    ms[i] = t;
                }
            }
            java.util.Arrays.sort(ms);
            return 2.0 * 8192 * 8192 * 8192 / (ms[samples / 2] / 1e3) / 1e12;
        }
    }
}
