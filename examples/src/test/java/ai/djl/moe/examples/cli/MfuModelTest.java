package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import ai.djl.moe.zoo.config.MoeModelConfig;

import org.junit.jupiter.api.Test;

/** The MFU models' configurations are the shapes their names and descriptions promise. */
class MfuModelTest {

    @Test
    void mixtralLayersHaveMixtral8x7bShapes() {
        MfuModel model = MfuModel.of("Mixtral-8x7B-layers");
        assertSame(MfuModel.MIXTRAL_8X7B_LAYERS, model);
        MoeModelConfig config = model.config(model.defaultLayers());
        assertEquals(3, config.getNumHiddenLayers());
        assertEquals(4096, config.getHiddenSize());
        assertEquals(14336, config.getExpertIntermediateSize());
        assertEquals(32, config.getNumAttentionHeads());
        assertEquals(8, config.getNumKeyValueHeads());
        assertEquals(128, config.getHeadDim());
        assertEquals(8, config.getNumExperts());
        assertEquals(2, config.getNumExpertsPerToken());
        assertEquals(32000, config.getVocabSize());
        assertEquals(4096, config.getMaxPositionEmbeddings());
        assertEquals(0.02, config.getRouterAuxLossCoef(), 1e-12);
    }

    @Test
    void halfWidthIsTheDefaultEightLayerModel() {
        MfuModel model = MfuModel.of("half-width");
        MoeModelConfig config = model.config(5);
        assertEquals(8, model.defaultLayers());
        assertEquals(5, config.getNumHiddenLayers());
        assertEquals(2048, config.getHiddenSize());
        assertEquals(7168, config.getExpertIntermediateSize());
        assertEquals(16, config.getNumAttentionHeads());
        assertEquals(4, config.getNumKeyValueHeads());
        assertEquals(128, config.getHeadDim());
        assertEquals(
                "Mixtral-style (half-width): 5 layers, hidden 2048, 16 heads (4 kv) x 128, 8"
                        + " experts of FFN 7168 top-2, vocab 32000",
                model.describe(5));
    }
}
