/**
 * Pipeline parallelism: the decoder layers split into stages over the pipeline group ({@link
 * ai.djl.moe.parallel.GroupKind#PP}, see {@link ai.djl.moe.parallel.pipeline.LayerSplit}), each
 * stage a {@link ai.djl.moe.parallel.pipeline.PipelineStage} block, trained by a {@link
 * ai.djl.moe.parallel.pipeline.PipelineTrainer} that runs every step's micro-batches in the 1F1B
 * order of {@link ai.djl.moe.parallel.pipeline.OneForwardOneBackward}, activations and gradients
 * travelling with {@code send}/{@code recv}, then reduces the gradients over data and expert-data
 * parallelism and steps. {@code EasyTrain.fit} drives it unchanged:
 *
 * <pre>{@code
 * DefaultTrainingConfig config = new DefaultTrainingConfig(new PipelineLoss())
 *         .optDevices(new Device[] {rankDevice})    // one device per rank
 *         .optOptimizer(adam);
 * model.setBlock(stageBlock);                       // a PipelineStage: this rank's layers
 * try (PipelineTrainer trainer = new PipelineTrainer(model, config, ctx, microBatches)) {
 *     trainer.initialize(idsShape);
 *     EasyTrain.fit(trainer, epochs, dataForThisDataParallelRank, null);
 * }
 * }</pre>
 */
package ai.djl.moe.parallel.pipeline;
