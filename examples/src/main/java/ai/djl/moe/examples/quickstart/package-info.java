/** The README's worked example: an MoE block in a DJL model, trained with {@code EasyTrain.fit}. */
package ai.djl.moe.examples.quickstart;
