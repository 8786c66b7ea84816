package ai.djl.moe.zoo.model;

import ai.djl.moe.dispatcher.DispatchOptions;
import ai.djl.moe.dispatcher.DispatcherKind;
import ai.djl.moe.dispatcher.DistributedMoeBlock;
import ai.djl.moe.dispatcher.ExpertPlacement;
import ai.djl.moe.dispatcher.TokenDispatchers;
import ai.djl.moe.nn.experts.ExpertActivation;
import ai.djl.moe.nn.experts.GroupedExperts;
import ai.djl.moe.nn.hf.HfSparseMoeArchitecture;
import ai.djl.moe.parallel.ParallelMapping;
import ai.djl.moe.parallel.training.CommunicatorProvider;
import ai.djl.moe.zoo.config.MoeModelConfig;

/**
 * The sparse MLP of a decoder layer on one rank of an expert-parallel layout: the same router as
 * {@link SparseMoeMlp}, this rank's experts only ({@code E / ep} experts of {@code F / etp}
 * columns) and a dispatcher picked from the mapping ({@link TokenDispatchers#forMapping}). Like
 * {@link SparseMoeMlp} it returns {@code (output, router logits)}, so {@link MoeCausalLm} and
 * {@link MoeCausalLmLoss} use it unchanged:
 *
 * <pre>{@code
 * MoeCausalLm model = MoeCausalLm.builder().setConfig(config)
 *         .optSparseMlpFactory(ExpertParallelMoeMlp.factory(mapping, comms,
 *                 DispatchOptions.DROPLESS, DispatcherKind.ALLTOALL))
 *         .build();
 * }</pre>
 *
 * <p>Its Hugging Face names are those of {@link SparseMoeMlp}; the expert tensors under them are
 * this rank's shards. Shared experts (Qwen2-MoE) are not supported.
 */
public final class ExpertParallelMoeMlp extends RouterLogitsMoeMlp<DistributedMoeBlock> {

    private ExpertParallelMoeMlp(DistributedMoeBlock moe) {
        super(moe, HfSparseMoeArchitecture.MIXTRAL);
    }

    /**
     * Returns the factory that builds this rank's sparse layers.
     *
     * @param mapping the parallel mapping
     * @param comms this rank's communicators
     * @param options dropping and padding
     * @param kind the distributed dispatcher (when {@code ep * etp > 1})
     * @return the factory, for {@link MoeCausalLm.Builder#optSparseMlpFactory}
     */
    public static MlpFactory factory(
            ParallelMapping mapping,
            CommunicatorProvider comms,
            DispatchOptions options,
            DispatcherKind kind) {
        return (config, layer) -> create(config, mapping, comms, options, kind);
    }

    private static ExpertParallelMoeMlp create(
            MoeModelConfig config,
            ParallelMapping mapping,
            CommunicatorProvider comms,
            DispatchOptions options,
            DispatcherKind kind) {
        if (config.getSharedExpertIntermediateSize() > 0) {
            throw new IllegalArgumentException(
                    "expert-parallel sparse layers do not support shared experts");
        }
        ExpertPlacement placement =
                TokenDispatchers.placement(mapping, comms, config.getNumExperts());
        GroupedExperts experts =
                GroupedExperts.builder()
                        .setNumExperts(placement.numLocalExperts())
                        .setIntermediateSize(
                                placement.localIntermediateSize(config.getExpertIntermediateSize()))
                        .optActivation(ExpertActivation.SWIGLU)
                        .build();
        return new ExpertParallelMoeMlp(
                DistributedMoeBlock.builder()
                        .setPlacement(placement)
                        .setRouter(SparseMoeMlp.newRouter(config))
                        .setLocalExperts(experts)
                        .setDispatcher(
                                TokenDispatchers.forMapping(
                                        mapping, comms, placement, options, kind))
                        .build());
    }
}
