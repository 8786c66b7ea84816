package ai.djl.moe.nn.experts;

import ai.djl.nn.Parameter;
import ai.djl.training.initializer.NormalInitializer;

/** Declares expert weight parameters (normal initialisation, standard deviation 0.02). */
final class ExpertWeights {

    private static final float INIT_STD = 0.02f;

    private ExpertWeights() {}

    /**
     * Declares a weight parameter.
     *
     * @param name the parameter name
     * @return the parameter, shape set later in {@code prepare}
     */
    static Parameter weight(String name) {
        return Parameter.builder()
                .setName(name)
                .setType(Parameter.Type.WEIGHT)
                .optInitializer(new NormalInitializer(INIT_STD))
                .build();
    }
}
