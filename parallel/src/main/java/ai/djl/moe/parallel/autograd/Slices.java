package ai.djl.moe.parallel.autograd;

import ai.djl.moe.parallel.comm.Communicator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;

/** A member's equal slice of an axis, and the gathering of slices along the last dimension. */
final class Slices {

    private Slices() {}

    /** This member's equal slice of axis 0, which must divide by the group size. */
    static NDArray ownRows(Communicator communicator, NDArray x) {
        long part = partLength(communicator, x.getShape(), 0);
        long from = part * communicator.getRank();
        return x.get(from + ":" + (from + part)).duplicate();
    }

    /** This member's equal slice of the last dimension, which must divide by the group size. */
    static NDArray ownSliceOfLastDim(Communicator communicator, NDArray x) {
        long part = partLength(communicator, x.getShape(), x.getShape().dimension() - 1);
        long from = part * communicator.getRank();
        return x.get("..., " + from + ":" + (from + part)).duplicate();
    }

    /** Every member's array concatenated along the last dimension, in rank order. */
    static NDArray gatherLastDim(Communicator communicator, NDArray x) {
        if (x.getShape().dimension() == 0) {
            throw new IllegalArgumentException("cannot gather a scalar along its last dimension");
        }
        try (NDArray row = x.expandDims(0);
                NDArray stacked = communicator.allGather(row);
                NDList parts = stacked.split(communicator.getSize(), 0);
                NDList squeezed = new NDList(parts.size())) {
            for (NDArray p : parts) {
                squeezed.add(p.squeeze(0));
            }
            return NDArrays.concat(squeezed, -1);
        }
    }

    private static long partLength(Communicator communicator, Shape shape, int axis) {
        if (axis < 0) {
            throw new IllegalArgumentException("cannot split a scalar among the members");
        }
        long length = shape.get(axis);
        int size = communicator.getSize();
        if (length % size != 0) {
            throw new IllegalArgumentException(
                    String.format(
                            "axis %d of shape %s does not divide by the %d members of %s",
                            axis, shape, size, communicator.getGroup()));
        }
        return length / size;
    }
}
