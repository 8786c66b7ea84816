package ai.djl.moe.parallel.training;

import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.comm.Communicator;

/** Opens this rank's communicator over its group of a kind (one backend: local, NCCL...). */
@FunctionalInterface
public interface CommunicatorProvider {

    /**
     * Opens the communicator over this rank's group of {@code kind}.
     *
     * @param kind the group kind
     * @return the communicator
     */
    Communicator open(GroupKind kind);
}
