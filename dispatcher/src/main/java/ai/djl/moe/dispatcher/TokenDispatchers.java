package ai.djl.moe.dispatcher;

import ai.djl.moe.nn.dispatch.TokenDispatcher;
import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.training.CommunicatorProvider;

/**
 * Picks the dispatcher and the expert placement of one rank from the parallel mapping, so that a
 * model is written once for every layout: with {@code ep == 1 && etp == 1} the single-device {@link
 * ai.djl.moe.nn.dispatch.LocalTokenDispatcher}, otherwise the requested distributed one.
 */
public final class TokenDispatchers {

    private TokenDispatchers() {}

    /**
     * Returns which experts (and which FFN slice) this rank holds.
     *
     * @param mapping the parallel mapping
     * @param comms this rank's communicators
     * @param numExperts the experts of the layer
     * @return the placement
     */
    public static ExpertPlacement placement(
            ParallelMapping mapping, CommunicatorProvider comms, int numExperts) {
        int ep = mapping.getConfig().getEp();
        int etp = mapping.getConfig().getEtp();
        int epRank = ep == 1 ? 0 : comms.open(GroupKind.EP).getRank();
        int etpRank = etp == 1 ? 0 : comms.open(GroupKind.ETP).getRank();
        return new ExpertPlacement(numExperts, ep, epRank, etp, etpRank);
    }

    /**
     * Creates this rank's dispatcher for a layout.
     *
     * @param mapping the parallel mapping
     * @param comms this rank's communicators
     * @param placement this rank's placement (see {@link #placement})
     * @param options dropping and padding
     * @param kind the distributed dispatcher to use when {@code ep * etp > 1}
     * @return the dispatcher
     */
    public static TokenDispatcher<?> forMapping(
            ParallelMapping mapping,
            CommunicatorProvider comms,
            ExpertPlacement placement,
            DispatchOptions options,
            DispatcherKind kind) {
        int ep = mapping.getConfig().getEp();
        int etp = mapping.getConfig().getEtp();
        if (ep == 1 && etp == 1) {
            return options.newLocalDispatcher();
        }
        if (kind == DispatcherKind.ALLGATHER) {
            return AllGatherTokenDispatcher.builder()
                    .setGroup(comms.open(GroupKind.ETP_EP))
                    .setPlacement(placement)
                    .optOptions(options)
                    .build();
        }
        AllToAllTokenDispatcher.Builder builder =
                AllToAllTokenDispatcher.builder().setEpGroup(comms.open(GroupKind.EP));
        if (etp > 1) {
            builder.optEtpGroup(comms.open(GroupKind.ETP));
        }
        return builder.optOptions(options).build();
    }
}
