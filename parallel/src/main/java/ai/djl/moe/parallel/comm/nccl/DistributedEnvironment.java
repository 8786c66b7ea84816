package ai.djl.moe.parallel.comm.nccl;

import java.util.Map;

/**
 * Where this process stands in a multi-process job, read from torchrun's environment variables
 * ({@code RANK}, {@code WORLD_SIZE}, {@code LOCAL_RANK}, {@code MASTER_ADDR}, {@code MASTER_PORT}),
 * as set by {@code djl-moe launch} or torchrun.
 */
public final class DistributedEnvironment {

    private final int rank;
    private final int worldSize;
    private final int localRank;
    private final String masterAddress;
    private final int masterPort;

    /**
     * Creates an environment from explicit values.
     *
     * @param rank this process's global rank, in {@code [0, worldSize)}
     * @param worldSize the number of processes, at least 1
     * @param localRank this process's rank on its host, which is also its CUDA device index
     * @param masterAddress the host rank 0 listens on for the rendezvous
     * @param masterPort the port rank 0 listens on, in {@code [1, 65535]}
     * @throws IllegalArgumentException naming the value that is out of range
     */
    public DistributedEnvironment(
            int rank, int worldSize, int localRank, String masterAddress, int masterPort) {
        if (worldSize < 1) {
            throw new IllegalArgumentException("WORLD_SIZE must be at least 1, got " + worldSize);
        }
        if (rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException(
                    "RANK must be in [0, " + worldSize + "), got " + rank);
        }
        if (localRank < 0) {
            throw new IllegalArgumentException("LOCAL_RANK must not be negative, got " + localRank);
        }
        if (masterAddress == null || masterAddress.isBlank()) {
            throw new IllegalArgumentException("MASTER_ADDR must not be empty");
        }
        if (masterPort < 1 || masterPort > 65535) {
            throw new IllegalArgumentException(
                    "MASTER_PORT must be in [1, 65535], got " + masterPort);
        }
        this.rank = rank;
        this.worldSize = worldSize;
        this.localRank = localRank;
        this.masterAddress = masterAddress;
        this.masterPort = masterPort;
    }

    /**
     * Reads the environment of this process.
     *
     * @return the environment
     * @throws IllegalArgumentException naming a missing or malformed variable
     */
    public static DistributedEnvironment fromSystem() {
        return fromVariables(System.getenv());
    }

    /**
     * Reads torchrun's variables from a map.
     *
     * @param variables the variables, e.g. {@link System#getenv()}
     * @return the environment
     * @throws IllegalArgumentException naming a missing or malformed variable
     */
    public static DistributedEnvironment fromVariables(Map<String, String> variables) {
        return new DistributedEnvironment(
                integer(variables, "RANK"),
                integer(variables, "WORLD_SIZE"),
                integer(variables, "LOCAL_RANK"),
                required(variables, "MASTER_ADDR"),
                integer(variables, "MASTER_PORT"));
    }

    private static String required(Map<String, String> variables, String name) {
        String value = variables.get(name);
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException(
                    "environment variable "
                            + name
                            + " is not set: start the job with './djl-moe launch --nproc N --"
                            + " ...' or torchrun, which set RANK, WORLD_SIZE, LOCAL_RANK,"
                            + " MASTER_ADDR and MASTER_PORT");
        }
        return value.trim();
    }

    private static int integer(Map<String, String> variables, String name) {
        String value = required(variables, name);
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    "environment variable " + name + " must be an integer, got '" + value + "'", e);
        }
    }

    /**
     * Returns this process's global rank.
     *
     * @return the rank
     */
    public int getRank() {
        return rank;
    }

    /**
     * Returns the number of processes.
     *
     * @return the world size
     */
    public int getWorldSize() {
        return worldSize;
    }

    /**
     * Returns this process's rank on its host, used as its CUDA device index.
     *
     * @return the local rank
     */
    public int getLocalRank() {
        return localRank;
    }

    /**
     * Returns the host rank 0 listens on.
     *
     * @return the master address
     */
    public String getMasterAddress() {
        return masterAddress;
    }

    /**
     * Returns the port rank 0 listens on.
     *
     * @return the master port
     */
    public int getMasterPort() {
        return masterPort;
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return String.format(
                "rank %d of %d (local rank %d), master %s:%d",
                rank, worldSize, localRank, masterAddress, masterPort);
    }
}
