package ai.djl.moe.zoo;

import ai.djl.Model;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.translate.TranslateException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;

/** Opens the Hugging Face tokenizer ({@code tokenizer.json}) of a loaded model's directory. */
final class ModelTokenizer {

    /** The tokenizer file name. */
    static final String FILE = "tokenizer.json";

    private ModelTokenizer() {}

    /**
     * Opens the tokenizer of a model; it is closed with the model.
     *
     * @param model the loaded model (its model path is the Hugging Face directory)
     * @param purpose what the tokenizer is needed for, for the error message
     * @return the tokenizer
     * @throws TranslateException if the directory has no readable {@code tokenizer.json}
     */
    static HuggingFaceTokenizer open(Model model, String purpose) throws TranslateException {
        Path dir = model.getModelPath();
        Path file = dir == null ? null : dir.resolve(FILE);
        if (file == null || !Files.isRegularFile(file)) {
            throw new TranslateException(dir + " has no " + FILE + " for " + purpose);
        }
        HuggingFaceTokenizer tokenizer;
        try {
            tokenizer = HuggingFaceTokenizer.newInstance(file);
        } catch (IOException | RuntimeException e) {
            throw new TranslateException(file + " is not a usable tokenizer: " + e.getMessage(), e);
        }
        model.getNDManager().attachInternal(UUID.randomUUID().toString(), tokenizer);
        return tokenizer;
    }
}
