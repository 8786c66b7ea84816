package ai.djl.moe.dispatcher;

import ai.djl.moe.nn.dispatch.DropPolicy;
import ai.djl.moe.nn.dispatch.LocalTokenDispatcher;

/**
 * Dropping and padding settings shared by every dispatcher. Capacity is decided on each rank's own
 * tokens (as Megatron-Core does): an expert keeps at most {@code ceil(T * k / E * factor)} of the
 * slots routed to it from one rank's {@code T} tokens.
 *
 * @param capacityFactor the capacity factor, 0 for dropless
 * @param dropPolicy which slots an over-full expert keeps
 * @param padToCapacity whether every expert gets exactly its capacity in rows (static shapes)
 */
public record DispatchOptions(double capacityFactor, DropPolicy dropPolicy, boolean padToCapacity) {

    /** Dropless dispatch. */
    public static final DispatchOptions DROPLESS = new DispatchOptions(0, DropPolicy.PROBS, false);

    /**
     * Validates the settings.
     *
     * @throws IllegalArgumentException naming the invalid setting
     */
    public DispatchOptions {
        if (capacityFactor < 0
                || Double.isNaN(capacityFactor)
                || Double.isInfinite(capacityFactor)) {
            throw new IllegalArgumentException(
                    "capacity factor must be 0 (dropless) or positive and finite, got "
                            + capacityFactor);
        }
        if (dropPolicy == null) {
            throw new IllegalArgumentException("drop policy must be set");
        }
        if (padToCapacity && capacityFactor == 0) {
            throw new IllegalArgumentException("padding to capacity needs a capacity factor");
        }
    }

    /**
     * Returns capacity settings.
     *
     * @param capacityFactor a positive factor
     * @param dropPolicy which slots an over-full expert keeps
     * @param padToCapacity whether to pad every expert to its capacity
     * @return the options
     */
    public static DispatchOptions capacity(
            double capacityFactor, DropPolicy dropPolicy, boolean padToCapacity) {
        if (!(capacityFactor > 0)) {
            throw new IllegalArgumentException(
                    "capacity factor must be positive, got " + capacityFactor);
        }
        return new DispatchOptions(capacityFactor, dropPolicy, padToCapacity);
    }

    /**
     * Returns whether no slot is ever dropped.
     *
     * @return true when the capacity factor is 0
     */
    public boolean isDropless() {
        return capacityFactor == 0;
    }

    /**
     * Creates the single-device dispatcher with these settings; the distributed dispatchers use it
     * for their local permutation (and its inverse) on each rank's own tokens.
     *
     * @return the dispatcher
     */
    public LocalTokenDispatcher newLocalDispatcher() {
        LocalTokenDispatcher.Builder builder = LocalTokenDispatcher.builder();
        if (!isDropless()) {
            builder.optCapacityFactor(capacityFactor)
                    .optDropPolicy(dropPolicy)
                    .optPadToCapacity(padToCapacity);
        }
        return builder.build();
    }
}
