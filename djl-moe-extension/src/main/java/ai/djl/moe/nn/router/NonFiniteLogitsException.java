package ai.djl.moe.nn.router;

/**
 * Thrown when router logits hold NaN or infinite values (non-finite hidden states or router
 * weights): the router refuses to route such a batch rather than send tokens to arbitrary experts.
 */
public class NonFiniteLogitsException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param count how many logits are NaN or infinite
     */
    public NonFiniteLogitsException(long count) {
        super(
                "router logits contain "
                        + count
                        + " NaN/Inf values (non-finite input or router weights); refusing to"
                        + " route");
    }
}
