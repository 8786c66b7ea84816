package ai.djl.moe.zoo;

import ai.djl.repository.zoo.ModelZoo;
import ai.djl.repository.zoo.ZooProvider;

/** Registers {@link MoeModelZoo} with DJL (through {@code META-INF/services}). */
public final class MoeZooProvider implements ZooProvider {

    /** {@inheritDoc} */
    @Override
    public ModelZoo getModelZoo() {
        return new MoeModelZoo();
    }
}
