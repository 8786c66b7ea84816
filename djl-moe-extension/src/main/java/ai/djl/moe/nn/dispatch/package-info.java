/**
 * Moving tokens to their experts and back: the {@link ai.djl.moe.nn.dispatch.TokenDispatcher}
 * contract and its single-device implementation (dropless or capacity-limited).
 */
package ai.djl.moe.nn.dispatch;
