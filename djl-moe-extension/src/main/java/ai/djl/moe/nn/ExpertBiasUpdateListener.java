package ai.djl.moe.nn;

import ai.djl.moe.nn.router.TopKRouter;
import ai.djl.nn.Block;
import ai.djl.training.Trainer;
import ai.djl.training.listener.TrainingListenerAdapter;

import java.util.ArrayList;
import java.util.List;

/**
 * Applies the aux-loss-free balancing update ({@link TopKRouter#updateExpertBias()}) of every
 * router with expert bias in a model after each training batch.
 */
public class ExpertBiasUpdateListener extends TrainingListenerAdapter {

    private final List<TopKRouter> routers = new ArrayList<>();

    /**
     * Creates the listener for the routers found in a block tree.
     *
     * @param model the model's root block
     */
    public ExpertBiasUpdateListener(Block model) {
        collect(model);
    }

    /**
     * Returns the routers this listener updates.
     *
     * @return the routers with expert bias, in block order
     */
    public List<TopKRouter> getRouters() {
        return List.copyOf(routers);
    }

    /** {@inheritDoc} */
    @Override
    public void onTrainingBatch(Trainer trainer, BatchData batchData) {
        for (TopKRouter router : routers) {
            router.updateExpertBias();
        }
    }

    private void collect(Block block) {
        if (block instanceof TopKRouter router && router.hasExpertBias()) {
            routers.add(router);
        }
        for (Block child : block.getChildren().values()) {
            collect(child);
        }
    }
}
