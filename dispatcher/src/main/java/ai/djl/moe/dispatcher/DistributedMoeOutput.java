package ai.djl.moe.dispatcher;

import ai.djl.moe.nn.dispatch.DispatchMetadata;
import ai.djl.moe.nn.router.RoutingResult;
import ai.djl.ndarray.NDArray;

/**
 * What one rank's {@link DistributedMoeBlock} produced.
 *
 * @param output the layer output, the input's shape
 * @param routing the router's decision for this rank's tokens
 * @param metadata the dispatcher's metadata (an {@link ExpertParallelMetadata} for the distributed
 *     dispatchers: tokens-per-expert statistics and dropped slots)
 */
public record DistributedMoeOutput(
        NDArray output, RoutingResult routing, DispatchMetadata metadata) {}
