package ai.djl.moe.nn.precision;

import ai.djl.Device;
import ai.djl.moe.bridge.BFloat16;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;

import java.util.HashMap;
import java.util.Map;

/**
 * A view of a {@link ParameterStore} that hands out bfloat16 copies of the float32 weights, cast
 * once per view and kept for its lifetime (a weight used twice, as a tied embedding, is cast once).
 */
final class CastingParameterStore extends ParameterStore {

    private final ParameterStore store;
    private final NDManager stepManager;
    private final Map<String, NDArray> copies = new HashMap<>();

    CastingParameterStore(ParameterStore store, NDManager stepManager) {
        super(store.getManager(), false);
        this.store = store;
        this.stepManager = stepManager;
    }

    /** {@inheritDoc} */
    @Override
    public NDArray getValue(Parameter parameter, Device device, boolean training) {
        NDArray value = store.getValue(parameter, device, training);
        if (value == null || BFloat16.dataType(value) != DataType.FLOAT32) {
            return value;
        }
        String key = parameter.getId() + '@' + device;
        NDArray copy = copies.get(key);
        if (copy == null) {
            copy = BFloat16.toBFloat16(value);
            copy.attach(stepManager);
            copies.put(key, copy);
        }
        return copy;
    }

    /** {@inheritDoc} */
    @Override
    public NDManager getManager() {
        return store.getManager();
    }
}
