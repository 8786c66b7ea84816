package ai.djl.moe.dispatcher;

/**
 * Which experts, and which slice of their intermediate (FFN) dimension, one rank holds: the experts
 * are split into {@code ep} contiguous blocks of {@code E / ep}, and each expert's {@code F}
 * columns into {@code etp} contiguous slices.
 *
 * @param numExperts all experts {@code E}
 * @param ep the expert-parallel size
 * @param epRank this rank's index in its expert-parallel group
 * @param etp the expert tensor-parallel size
 * @param etpRank this rank's index in its expert tensor-parallel group
 */
public record ExpertPlacement(int numExperts, int ep, int epRank, int etp, int etpRank) {

    /**
     * Validates the placement.
     *
     * @throws IllegalArgumentException naming the rule broken
     */
    public ExpertPlacement {
        if (ep < 1 || etp < 1) {
            throw new IllegalArgumentException("ep and etp must be >= 1, got " + ep + ", " + etp);
        }
        if (numExperts < 1 || numExperts % ep != 0) {
            throw new IllegalArgumentException(
                    "the number of experts ("
                            + numExperts
                            + ") must be a positive multiple of ep ("
                            + ep
                            + ")");
        }
        if (epRank < 0 || epRank >= ep || etpRank < 0 || etpRank >= etp) {
            throw new IllegalArgumentException(
                    "ep rank "
                            + epRank
                            + " / etp rank "
                            + etpRank
                            + " outside "
                            + ep
                            + " x "
                            + etp);
        }
    }

    /**
     * Returns the experts each rank holds.
     *
     * @return {@code E / ep}
     */
    public int numLocalExperts() {
        return numExperts / ep;
    }

    /**
     * Returns the first expert this rank holds.
     *
     * @return {@code epRank * E / ep}
     */
    public int firstLocalExpert() {
        return epRank * numLocalExperts();
    }

    /**
     * Returns the intermediate columns this rank holds of each expert.
     *
     * @param intermediateSize the full {@code F}
     * @return {@code F / etp}
     * @throws IllegalArgumentException if {@code F} does not divide by {@code etp}
     */
    public long localIntermediateSize(long intermediateSize) {
        if (intermediateSize % etp != 0) {
            throw new IllegalArgumentException(
                    "expert intermediate size " + intermediateSize + " must divide by etp " + etp);
        }
        return intermediateSize / etp;
    }
}
