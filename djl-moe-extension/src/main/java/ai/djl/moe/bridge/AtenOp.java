package ai.djl.moe.bridge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Calls a registered aten operator by name through libtorch's dispatcher ({@code
 * aoti_torch_call_dispatcher}), with autograd: the result of a differentiable op on arrays that
 * require gradients carries a gradient function, exactly as in PyTorch.
 *
 * <pre>{@code
 * NDArray sum = AtenOp.of("aten::scatter_add", "")
 *         .call(manager, 1, AtenArg.tensor(self), AtenArg.integer(0),
 *                 AtenArg.tensor(index), AtenArg.tensor(src))
 *         .singletonOrThrow();
 * }</pre>
 *
 * <p>Arguments follow the operator's schema order, defaults included (the C ABI has no keyword
 * arguments). Tensor handles are copied before the call, so the caller's arrays stay valid. When
 * libtorch reports an error, a {@link TorchException} carries libtorch's message.
 */
public final class AtenOp {

    private static final Set<String> VERIFIED = ConcurrentHashMap.newKeySet();
    private static final int MIN_STACK = 16;

    private final String name;
    private final String overload;

    private AtenOp(String name, String overload) {
        this.name = name;
        this.overload = overload;
    }

    /**
     * Names an operator.
     *
     * @param name the qualified name, e.g. {@code "aten::scatter_add"}
     * @param overload the overload name, {@code ""} for the default one
     * @return the operator
     */
    public static AtenOp of(String name, String overload) {
        if (!name.contains("::")) {
            throw new IllegalArgumentException(
                    "Operator names are qualified with a namespace, e.g. aten::" + name);
        }
        return new AtenOp(name, overload);
    }

    /**
     * Returns the qualified name with the overload, as libtorch prints it.
     *
     * @return e.g. {@code aten::add.Tensor}
     */
    public String getSignature() {
        return overload.isEmpty() ? name : name + '.' + overload;
    }

    /**
     * Calls the operator.
     *
     * @param manager the manager that will own the returned arrays
     * @param numReturns how many tensors the operator returns (its schema's returns)
     * @param args the arguments in schema order
     * @return the returned tensors
     * @throws TorchException when libtorch reports an error (unknown operator, wrong arguments, a
     *     failing kernel), with libtorch's message
     */
    public NDList call(NDManager manager, int numReturns, AtenArg... args) {
        if (numReturns < 0) {
            throw new IllegalArgumentException("numReturns must be >= 0");
        }
        long[] stack = run(numReturns, args);
        NDList out = new NDList(numReturns);
        for (int i = 0; i < numReturns; i++) {
            out.add(TorchTensors.adopt(manager, stack[i]));
        }
        return out;
    }

    /**
     * Calls an operator that returns one {@code int}.
     *
     * @param args the arguments in schema order
     * @return the returned value
     * @throws TorchException when libtorch reports an error, with libtorch's message
     */
    public long callForLong(AtenArg... args) {
        return run(1, args)[0];
    }

    /**
     * Calls an operator that returns one {@code bool}.
     *
     * @param args the arguments in schema order
     * @return the returned value
     * @throws TorchException when libtorch reports an error, with libtorch's message
     */
    public boolean callForBoolean(AtenArg... args) {
        // the C ABI writes a bool into the low byte of its slot only
        return (run(1, args)[0] & 0xFF) != 0;
    }

    private long[] run(int numReturns, AtenArg... args) {
        LibTorch.shim();
        for (AtenArg a : args) {
            NDArray array = a.array();
            if (array != null) {
                TensorInfo.handle(array);
            }
        }
        String key = getSignature();
        long[] stack;
        if (VERIFIED.contains(key)) {
            stack = encode(args, numReturns);
            int rc = LibTorch.Shim.aoti_torch_call_dispatcher(name, overload, stack);
            if (rc == 0) {
                return stack;
            }
        }
        stack = encode(args, numReturns);
        long[] slots = stack.clone();
        long[] finalStack = stack;
        StderrCapture.Result r =
                StderrCapture.run(
                        () -> LibTorch.Shim.aoti_torch_call_dispatcher(name, overload, finalStack));
        if (r.returnCode == 0) {
            VERIFIED.add(key);
            return stack;
        }
        if (r.stderr.contains("Could not find schema")) {
            // the schema lookup fails before any argument is converted: nothing was consumed
            for (int i = 0; i < args.length; i++) {
                args[i].release(slots[i]);
            }
        }
        throw new TorchException(key + ": " + firstLines(r.stderr));
    }

    private static long[] encode(AtenArg[] args, int numReturns) {
        long[] stack = new long[Math.max(MIN_STACK, Math.max(args.length, numReturns))];
        for (int i = 0; i < args.length; i++) {
            stack[i] = args[i].encode();
        }
        return stack;
    }

    /** libtorch's message without the C++ stack trace that follows it. */
    static String firstLines(String stderr) {
        String s = stderr.strip();
        String marker = "Exception in aoti_torch: ";
        int at = s.indexOf(marker);
        if (at >= 0) {
            s = s.substring(at + marker.length());
        }
        int trace = s.indexOf("Exception raised from");
        if (trace > 0) {
            s = s.substring(0, trace);
        }
        s = s.strip();
        return s.isEmpty() ? "libtorch reported an error without a message" : s;
    }
}
