package ai.djl.moe.parallel.comm;

import java.util.Arrays;

/** Some ranks of a group did not reach a collective (or send a message) before the timeout. */
public class CollectiveTimeoutException extends CommunicatorException {

    private static final long serialVersionUID = 1L;

    private final String groupName;
    private final int[] missingRanks;

    /**
     * Creates the exception.
     *
     * @param operation the collective, e.g. {@code "allReduce"}
     * @param groupName the group, e.g. {@code "ep#1[4, 5, 6, 7]"}
     * @param missingRanks the global ranks that did not arrive
     * @param timeoutMillis the timeout that expired
     */
    public CollectiveTimeoutException(
            String operation, String groupName, int[] missingRanks, long timeoutMillis) {
        super(
                operation
                        + " on group "
                        + groupName
                        + " timed out after "
                        + timeoutMillis
                        + " ms: global rank(s) "
                        + Arrays.toString(missingRanks)
                        + " did not arrive");
        this.groupName = groupName;
        this.missingRanks = missingRanks.clone();
    }

    /**
     * Creates the exception with a backend's own account of what is known (NCCL, for one, cannot
     * tell which peers are missing, only which could be).
     *
     * @param message the whole message, naming the operation, the group and the ranks
     * @param groupName the group, e.g. {@code "ep#1[4, 5, 6, 7]"}
     * @param missingRanks the global ranks that did not (or may not have) arrived
     */
    public CollectiveTimeoutException(String message, String groupName, int[] missingRanks) {
        super(message);
        this.groupName = groupName;
        this.missingRanks = missingRanks.clone();
    }

    /**
     * Creates the same exception for another rank, keeping the original as the cause.
     *
     * @param original the exception thrown on the rank that saw the timeout expire
     */
    CollectiveTimeoutException(CollectiveTimeoutException original) {
        super(original.getMessage(), original);
        groupName = original.groupName;
        missingRanks = original.missingRanks;
    }

    /**
     * Returns the group.
     *
     * @return its name and ranks, e.g. {@code "ep#1[4, 5, 6, 7]"}
     */
    public String getGroupName() {
        return groupName;
    }

    /**
     * Returns the ranks that did not arrive.
     *
     * @return their global ranks, ascending
     */
    public int[] getMissingRanks() {
        return missingRanks.clone();
    }
}
