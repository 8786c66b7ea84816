package ai.djl.moe.parallel.comm.nccl;

import com.sun.jna.Structure;

/**
 * NCCL's {@code ncclUniqueId}: 128 opaque bytes made by one rank and shared with all, passed by
 * value to {@code ncclCommInitRank}. Public only because JNA reads its field by reflection.
 */
@Structure.FieldOrder("internal")
public final class NcclUniqueId extends Structure implements Structure.ByValue {

    /** The size of the id in bytes ({@code NCCL_UNIQUE_ID_BYTES}). */
    public static final int BYTES = 128;

    /** The id's bytes. */
    public byte[] internal = new byte[BYTES];

    /** Creates an all-zero id (JNA needs this constructor). */
    public NcclUniqueId() {}

    /**
     * Creates an id from its bytes.
     *
     * @param bytes exactly {@link #BYTES} bytes
     * @throws IllegalArgumentException for another length
     */
    public NcclUniqueId(byte[] bytes) {
        if (bytes.length != BYTES) {
            throw new IllegalArgumentException(
                    "an NCCL unique id has " + BYTES + " bytes, got " + bytes.length);
        }
        System.arraycopy(bytes, 0, internal, 0, BYTES);
    }
}
