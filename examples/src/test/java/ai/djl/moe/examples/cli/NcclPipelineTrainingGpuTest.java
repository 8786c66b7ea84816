package ai.djl.moe.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.engine.Engine;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Pipeline stages over NCCL, one GPU per rank ({@code launch --nproc 2 -- train --pp 2 --backend
 * nccl}): 1F1B over NCCL send/recv trains as the same layout on simulated ranks does, the pipeline
 * statistics after training are gathered on each rank's own GPU, a checkpoint of the stages resumes
 * to the same losses, and tied word embeddings (the first stage's table and the last stage's head)
 * add their gradients across the two GPUs. Skipped without two CUDA devices; run on the two-GPU
 * machine.
 */
class NcclPipelineTrainingGpuTest {

    private static final Pattern LOSS = Pattern.compile("step\\s+(\\d+) \\| loss (\\S+)");

    @TempDir Path dir;

    @BeforeEach
    void needsTwoGpus() {
        assumeTrue(
                Engine.getEngine("PyTorch").getGpuCount() >= 2,
                "needs two CUDA devices: run on the two-GPU machine (DEVELOPERS.md, 'GPU runs')");
    }

    @Test
    void twoStagesOverNcclTrainAsTheSimulatedRanksDoAndResume() {
        List<String> layout =
                List.of(
                        "train",
                        "--world-size",
                        "2",
                        "--pp",
                        "2",
                        "--micro-batches",
                        "4",
                        "--steps",
                        "5",
                        "--print-every",
                        "1");
        Path saved = dir.resolve("saved");
        CliRun nccl =
                launched(layout, "--checkpoint-dir", saved.toString(), "--checkpoint-every", "3");
        assertEquals(0, nccl.exitCode(), nccl.out() + nccl.err());
        CliRun simulated = CliRun.of(layout.toArray(new String[0]));
        assertEquals(0, simulated.exitCode(), simulated.out() + simulated.err());
        Map<Integer, String> expected = losses(simulated.out());
        assertEquals(5, expected.size(), simulated.out());
        assertEquals(expected, losses(nccl.out()), "the printed loss of every step");
        for (int stage = 0; stage < 2; stage++) {
            assertTrue(nccl.out().contains("pipeline stage " + stage + ": idle "), nccl.out());
        }
        List<String> twoSteps = new ArrayList<>(layout);
        twoSteps.set(twoSteps.indexOf("--steps") + 1, "2");
        CliRun resumed = launched(twoSteps, "--resume", saved.resolve("step-000003").toString());
        assertEquals(0, resumed.exitCode(), resumed.out() + resumed.err());
        Map<Integer, String> after = losses(resumed.out());
        assertEquals(Map.of(4, expected.get(4), 5, expected.get(5)), after, resumed.out());
    }

    @Test
    void tiedEmbeddingsOverNcclTrainAsTheSimulatedRanksDo() throws IOException {
        Path config = dir.resolve("tied.json");
        try (InputStream is =
                NcclPipelineTrainingGpuTest.class.getResourceAsStream(
                        "/ai/djl/moe/examples/default-model.json")) {
            String json = new String(is.readAllBytes(), StandardCharsets.UTF_8);
            String tied =
                    json.replace("\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true");
            assertTrue(tied.contains("\"tie_word_embeddings\": true"), json);
            Files.writeString(config, tied);
        }
        List<String> layout =
                List.of(
                        "train",
                        "--config",
                        config.toString(),
                        "--world-size",
                        "2",
                        "--pp",
                        "2",
                        "--micro-batches",
                        "2",
                        "--steps",
                        "6",
                        "--print-every",
                        "1");
        CliRun nccl = launched(layout);
        assertEquals(0, nccl.exitCode(), nccl.out() + nccl.err());
        CliRun simulated = CliRun.of(layout.toArray(new String[0]));
        assertEquals(0, simulated.exitCode(), simulated.out() + simulated.err());
        Map<Integer, String> expected = losses(simulated.out());
        assertEquals(6, expected.size(), simulated.out());
        assertEquals(expected, losses(nccl.out()), "the printed loss of every step");
    }

    /** Runs a train command line on two ranks over NCCL, one GPU each. */
    private static CliRun launched(List<String> train, String... more) {
        List<String> args = new ArrayList<>(List.of("launch", "--nproc", "2", "--"));
        args.addAll(train);
        args.addAll(List.of("--backend", "nccl", "--timeout-seconds", "60"));
        args.addAll(List.of(more));
        return CliRun.of(args.toArray(new String[0]));
    }

    /** The loss printed at each step (the first rank prints them). */
    private static Map<Integer, String> losses(String printed) {
        Map<Integer, String> losses = new TreeMap<>();
        Matcher m = LOSS.matcher(printed);
        while (m.find()) {
            losses.putIfAbsent(Integer.parseInt(m.group(1)), m.group(2));
        }
        return losses;
    }
}
