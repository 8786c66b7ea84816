/**
 * Top-k routing of tokens to experts: score functions, group-limited selection, load-balancing
 * losses, z-loss and aux-loss-free expert bias.
 */
package ai.djl.moe.nn.router;
