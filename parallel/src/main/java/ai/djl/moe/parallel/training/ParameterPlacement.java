package ai.djl.moe.parallel.training;

import ai.djl.moe.parallel.GroupKind;
import ai.djl.moe.parallel.nn.SequenceParallelReplicated;
import ai.djl.moe.parallel.nn.TensorParallelBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Where one trainable parameter lives in the folded layout, and so over which groups its gradient
 * is reduced and from which ranks its initial value is copied:
 *
 * <ul>
 *   <li>expert parameters: summed over the expert data-parallel group ({@link GroupKind#EDP}) and
 *       divided by the data-parallel size {@code |DP x CP|}, as Megatron-Core does: an expert's
 *       gradient on one rank already holds the tokens that the all-to-all brought from the other
 *       expert-parallel ranks, so the replicas together hold all {@code |DP x CP|} micro-batches;
 *   <li>dense parameters: averaged over data and context parallelism ({@link GroupKind#DP_CP}),
 *       after a sum over tensor parallelism ({@link GroupKind#TP}) for full copies applied to
 *       sequence-parallel activations ({@link TensorParallelBlock#hasSequenceParallelGradient},
 *       or any parameter inside a {@link SequenceParallelReplicated}, such as the router of an MoE
 *       layer whose input is sequence-parallel).
 * </ul>
 */
public final class ParameterPlacement {

    /**
     * The default rule for expert parameters: the stacked expert weights of {@code
     * GroupedExperts}, named {@code gate_up_proj} and {@code down_proj}.
     */
    public static final Predicate<Parameter> EXPERT_WEIGHTS_BY_NAME =
            p -> Set.of("gate_up_proj", "down_proj").contains(p.getName());

    private final String path;
    private final Parameter parameter;
    private final boolean expert;
    private final boolean tensorParallelShard;
    private final boolean sequenceParallelGradient;

    private ParameterPlacement(
            String path,
            Parameter parameter,
            boolean expert,
            boolean tensorParallelShard,
            boolean sequenceParallelGradient) {
        this.path = path;
        this.parameter = parameter;
        this.expert = expert;
        this.tensorParallelShard = tensorParallelShard;
        this.sequenceParallelGradient = sequenceParallelGradient;
    }

    /**
     * Places every trainable parameter of a block tree, in a fixed order (the same on every rank
     * of one model).
     *
     * @param root the model's block
     * @param isExpert which parameters are expert parameters
     * @return one placement per parameter that requires a gradient
     */
    public static List<ParameterPlacement> of(Block root, Predicate<Parameter> isExpert) {
        List<ParameterPlacement> placements = new ArrayList<>();
        collect("", root, false, isExpert, placements);
        return Collections.unmodifiableList(placements);
    }

    private static void collect(
            String prefix,
            Block block,
            boolean insideReplicated,
            Predicate<Parameter> isExpert,
            List<ParameterPlacement> out) {
        boolean replicated = insideReplicated || block instanceof SequenceParallelReplicated;
        TensorParallelBlock tp =
                block instanceof TensorParallelBlock ? (TensorParallelBlock) block : null;
        for (Pair<String, Parameter> entry : block.getDirectParameters()) {
            Parameter p = entry.getValue();
            if (p.requiresGradient()) {
                out.add(
                        new ParameterPlacement(
                                prefix + entry.getKey(),
                                p,
                                isExpert.test(p),
                                tp != null && tp.isSharded(p),
                                replicated || (tp != null && tp.hasSequenceParallelGradient(p))));
            }
        }
        for (Pair<String, Block> child : block.getChildren()) {
            collect(prefix + child.getKey() + "_", child.getValue(), replicated, isExpert, out);
        }
    }

    /**
     * Returns the parameter's path in the block tree, as in {@code Block.getParameters()}.
     *
     * @return the path, e.g. {@code 02fc1_weight}
     */
    public String getPath() {
        return path;
    }

    /**
     * Returns the parameter.
     *
     * @return the parameter
     */
    public Parameter getParameter() {
        return parameter;
    }

    /**
     * Returns whether this is an expert parameter.
     *
     * @return true for an expert parameter
     */
    public boolean isExpert() {
        return expert;
    }

    /**
     * Returns the groups whose sums, in order, make this rank's gradient the sum over all
     * micro-batches of the step: the tensor-parallel partial sum first (if any), then the replicas
     * that trained on other data.
     *
     * @return {@link GroupKind#EDP} for expert parameters; else {@link GroupKind#DP_CP}, preceded
     *     by {@link GroupKind#TP} for a sequence-parallel partial gradient
     */
    public List<GroupKind> getSumGroups() {
        if (expert) {
            return List.of(GroupKind.EDP);
        }
        return sequenceParallelGradient
                ? List.of(GroupKind.TP, GroupKind.DP_CP)
                : List.of(GroupKind.DP_CP);
    }

    /**
     * Returns the group whose size divides the summed gradient (the number of data-parallel
     * micro-batches of a step), the same for dense and expert parameters.
     *
     * @return {@link GroupKind#DP_CP}
     */
    public GroupKind getNormalizationGroup() {
        return GroupKind.DP_CP;
    }

    /**
     * Returns the groups whose members hold the same values of this parameter, which are
     * broadcast from each group's first member to start from identical replicas.
     *
     * @return the replica groups, tensor-parallel first for full copies
     */
    public List<GroupKind> getReplicaGroups() {
        if (expert) {
            return List.of(GroupKind.EDP);
        }
        if (tensorParallelShard) {
            return List.of(GroupKind.DP_CP);
        }
        return List.of(GroupKind.TP, GroupKind.DP_CP);
    }

    @Override
    public String toString() {
        return path + (expert ? " (expert)" : tensorParallelShard ? " (tp shard)" : "");
    }
}
