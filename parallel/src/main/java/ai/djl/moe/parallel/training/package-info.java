/**
 * Parallel training with DJL's own loop: {@link ai.djl.moe.parallel.training.ParallelTrainer}
 * synchronizes gradients over the groups of a {@link ai.djl.moe.parallel.ParallelMapping} before
 * each optimizer step, {@link ai.djl.moe.parallel.training.DataParallelSampler} gives each
 * data-parallel rank its slice of every global batch, and {@link
 * ai.djl.moe.parallel.training.ParallelTraining} runs a job on simulated ranks.
 *
 * <pre>{@code
 * ParallelTraining.run(config, Duration.ofMinutes(1), ctx -> {
 *     try (Model model = Model.newInstance("mlp")) {
 *         model.setBlock(buildBlock(ctx.communicator(GroupKind.TP)));
 *         try (ParallelTrainer trainer = new ParallelTrainer(model, trainingConfig, ctx)) {
 *             trainer.initialize(inputShape);
 *             EasyTrain.fit(trainer, epochs, datasetFor(ctx), null);
 *         }
 *     }
 *     return null;
 * });
 * }</pre>
 */
package ai.djl.moe.parallel.training;
