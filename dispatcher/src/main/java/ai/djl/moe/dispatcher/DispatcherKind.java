package ai.djl.moe.dispatcher;

import java.util.Locale;

/** Which distributed dispatcher to use when experts are spread over ranks. */
public enum DispatcherKind {
    /** {@link AllToAllTokenDispatcher}. */
    ALLTOALL,
    /** {@link AllGatherTokenDispatcher}. */
    ALLGATHER;

    /**
     * Parses a name ({@code alltoall} or {@code allgather}, any case).
     *
     * @param name the name
     * @return the kind
     * @throws IllegalArgumentException naming the accepted values
     */
    public static DispatcherKind parse(String name) {
        for (DispatcherKind kind : values()) {
            if (kind.name().equalsIgnoreCase(name)) {
                return kind;
            }
        }
        throw new IllegalArgumentException(
                "unknown dispatcher '" + name + "', expected alltoall or allgather");
    }

    /**
     * Returns the command-line name.
     *
     * @return {@code alltoall} or {@code allgather}
     */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }
}
