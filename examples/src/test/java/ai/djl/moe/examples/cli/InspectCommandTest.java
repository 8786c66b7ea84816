package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

class InspectCommandTest {

    @Test
    void printsCountsAndLayerPlanFromConfigOnly(@TempDir Path tmp) throws Exception {
        Files.writeString(
                tmp.resolve("config.json"),
                "{\"model_type\":\"qwen2_moe\",\"vocab_size\":100,\"hidden_size\":32,"
                        + "\"intermediate_size\":64,\"moe_intermediate_size\":16,"
                        + "\"shared_expert_intermediate_size\":32,\"num_hidden_layers\":4,"
                        + "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"num_experts\":8,"
                        + "\"num_experts_per_tok\":2,\"mlp_only_layers\":[0]}");
        BlockParityCommandTest.Run run =
                BlockParityCommandTest.run("inspect", "--model", tmp.toString());
        String out = run.out();
        assertEquals(0, run.code(), out + run.err());
        assertTrue(out.contains("layer 0         dense SwiGLU MLP, intermediate 64"), out);
        assertTrue(out.contains("layers 1-3      MoE 8 experts, top-2, intermediate 16"), out);
        assertTrue(out.contains("active per token"), out);
        BlockParityCommandTest.Run missing =
                BlockParityCommandTest.run("inspect", "--model", tmp.resolve("none").toString());
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains("has no config.json"), missing.err());
    }
}
