package ai.djl.moe.nn;

import ai.djl.moe.nn.dispatch.DispatchMetadata;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.ndarray.NDArray;

/**
 * What one pass of an {@link AbstractMoeBlock} produced.
 *
 * @param output the layer output, shaped like the input {@code [..., H]}
 * @param routing the routing decision behind it
 * @param metadata what the dispatcher recorded (e.g. the dropped slots)
 */
public record RoutedMoeOutput(NDArray output, RoutingResult routing, DispatchMetadata metadata) {}
