/** Readers for tensor file formats (safetensors) that load into DJL {@code NDArray}s. */
package ai.djl.moe.io;
