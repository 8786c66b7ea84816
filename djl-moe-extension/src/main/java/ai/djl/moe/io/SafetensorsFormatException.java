package ai.djl.moe.io;

/** A safetensors file whose header or layout is invalid; the message names the tensor. */
public class SafetensorsFormatException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what is wrong, naming the file part or tensor
     */
    public SafetensorsFormatException(String message) {
        super(message);
    }
}
