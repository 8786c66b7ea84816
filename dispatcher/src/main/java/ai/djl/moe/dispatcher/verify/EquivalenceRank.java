package ai.djl.moe.dispatcher.verify;

import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.moe.parallel.training.CommunicatorProvider;
import ai.djl.ndarray.NDManager;

/**
 * What one rank of an equivalence check needs from its backend: its place, the world communicator
 * (which gathers the results on rank 0), its group communicators and the manager of its device. The
 * local backend (threads) and the NCCL backend (one process per GPU) differ only here.
 *
 * @param rank this rank's global number
 * @param world the communicator over all ranks
 * @param groups opens this rank's communicator of a group kind of the check's mapping
 * @param manager the manager of this rank's device; the reference runs on it on rank 0
 */
public record EquivalenceRank(
        int rank, Communicator world, CommunicatorProvider groups, NDManager manager) {}
