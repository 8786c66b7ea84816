/**
 * Images for notebooks and reports: the load of each expert of an MoE layer ({@link
 * ai.djl.moe.examples.plot.ExpertLoadChart}) and the folded rank layout of a parallel configuration
 * ({@link ai.djl.moe.examples.plot.FoldingLayoutChart}); a notebook shows them with its kernel's
 * {@code display(...)}.
 */
package ai.djl.moe.examples.plot;
