package ai.djl.moe.parallel;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;

/**
 * A kind of process group, named as in the Megatron fixtures and the {@code groups} command; the
 * declaration order is the order in which they are listed.
 */
public enum GroupKind {
    /** Tensor parallel. */
    TP("tp", Side.ATTENTION, EnumSet.of(Axis.TP)),
    /** Context parallel. */
    CP("cp", Side.ATTENTION, EnumSet.of(Axis.CP)),
    /** Data parallel (without context parallel). */
    DP("dp", Side.ATTENTION, EnumSet.of(Axis.DP)),
    /** Pipeline parallel. */
    PP("pp", Side.ATTENTION, EnumSet.of(Axis.PP)),
    /** Tensor and context parallel. */
    TP_CP("tp-cp", Side.ATTENTION, EnumSet.of(Axis.TP, Axis.CP)),
    /** Data parallel with context parallel: where dense gradients are reduced. */
    DP_CP("dp-cp", Side.ATTENTION, EnumSet.of(Axis.DP, Axis.CP)),
    /** Tensor and pipeline parallel (Megatron's model-parallel group). */
    TP_PP("tp-pp", Side.ATTENTION, EnumSet.of(Axis.TP, Axis.PP)),
    /** Tensor and data parallel. */
    TP_DP("tp-dp", Side.ATTENTION, EnumSet.of(Axis.TP, Axis.DP)),
    /** Tensor, data and context parallel. */
    TP_DP_CP("tp-dp-cp", Side.ATTENTION, EnumSet.of(Axis.TP, Axis.DP, Axis.CP)),
    /** Model parallel: the same groups as {@link #TP_PP}, under Megatron's name. */
    MP("mp", Side.ATTENTION, EnumSet.of(Axis.TP, Axis.PP)),
    /** Expert tensor parallel. */
    ETP("etp", Side.MOE, EnumSet.of(Axis.TP)),
    /** Expert parallel: where tokens are exchanged all-to-all. */
    EP("ep", Side.MOE, EnumSet.of(Axis.EP)),
    /** Expert data parallel: where expert gradients are reduced. */
    EDP("edp", Side.MOE, EnumSet.of(Axis.DP)),
    /** Expert tensor and expert parallel. */
    ETP_EP("etp-ep", Side.MOE, EnumSet.of(Axis.TP, Axis.EP)),
    /** Expert tensor, expert and pipeline parallel. */
    ETP_EP_PP("etp-ep-pp", Side.MOE, EnumSet.of(Axis.TP, Axis.EP, Axis.PP));

    private final String id;
    private final Side side;
    private final Set<Axis> axes;

    GroupKind(String id, Side side, Set<Axis> axes) {
        this.id = id;
        this.side = side;
        this.axes = Collections.unmodifiableSet(axes);
    }

    /**
     * Returns the kind's name.
     *
     * @return the name, e.g. {@code "dp-cp"}
     */
    public String id() {
        return id;
    }

    /**
     * Returns the side whose rank generator builds these groups.
     *
     * @return the side
     */
    public Side getSide() {
        return side;
    }

    /**
     * Returns the generator axes a group of this kind spans.
     *
     * @return the axes (on the MoE side, {@link Axis#TP} is ETP and {@link Axis#DP} is EDP)
     */
    public Set<Axis> getAxes() {
        return axes;
    }

    /**
     * Returns the kind with a name.
     *
     * @param id the name, e.g. {@code "ep"}
     * @return the kind
     * @throws IllegalArgumentException for an unknown name
     */
    public static GroupKind fromId(String id) {
        for (GroupKind kind : values()) {
            if (kind.id.equals(id)) {
                return kind;
            }
        }
        throw new IllegalArgumentException("unknown group kind '" + id + "'");
    }
}
