package ai.djl.moe.parallel.nn;

import ai.djl.MalformedModelException;
import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/**
 * How one axis of a parameter is split in equal contiguous parts among the members of a
 * tensor-parallel group, and which part this member holds.
 */
final class ShardLayout {

    private final String what;
    private final long fullLength;
    private final int parts;
    private final int index;

    private ShardLayout(String what, long fullLength, int parts, int index) {
        this.what = what;
        this.fullLength = fullLength;
        this.parts = parts;
        this.index = index;
    }

    /**
     * The layout of {@code fullLength} entries over the members of {@code group}.
     *
     * @throws IllegalArgumentException when the length is not positive or does not divide
     */
    static ShardLayout of(String what, long fullLength, Communicator group) {
        if (fullLength <= 0) {
            throw new IllegalArgumentException(what + " must be positive, got " + fullLength);
        }
        if (fullLength % group.getSize() != 0) {
            throw new IllegalArgumentException(
                    String.format(
                            "%s (%d) do not divide among the %d members of %s",
                            what, fullLength, group.getSize(), group.getGroup()));
        }
        return new ShardLayout(what, fullLength, group.getSize(), group.getRank());
    }

    long getFullLength() {
        return fullLength;
    }

    long getShardLength() {
        return fullLength / parts;
    }

    long getStart() {
        return getShardLength() * index;
    }

    /** This member's part of {@code full} along {@code axis} (a copy). */
    NDArray slice(NDArray full, int axis) {
        if (full.getShape().dimension() <= axis || full.getShape().get(axis) != fullLength) {
            throw new IllegalArgumentException(
                    String.format(
                            "expected %d %s along axis %d of the full array, got shape %s",
                            fullLength, what, axis, full.getShape()));
        }
        String prefix = axis == 0 ? "" : ":, ";
        return full.get(prefix + getStart() + ":" + (getStart() + getShardLength())).duplicate();
    }

    void write(DataOutputStream os) throws IOException {
        os.writeLong(fullLength);
        os.writeInt(parts);
        os.writeInt(index);
    }

    /** Reads a saved layout and fails unless it is this one. */
    void readAndCheck(DataInputStream is) throws IOException, MalformedModelException {
        long savedLength = is.readLong();
        int savedParts = is.readInt();
        int savedIndex = is.readInt();
        if (savedLength != fullLength || savedParts != parts || savedIndex != index) {
            throw new MalformedModelException(
                    String.format(
                            "saved shard holds part %d of %d of %d %s; this block holds part %d"
                                    + " of %d of %d",
                            savedIndex, savedParts, savedLength, what, index, parts, fullLength));
        }
    }
}
