/** Test models built twice: from the tensor-parallel blocks and from plain DJL blocks. */
package ai.djl.moe.parallel.testing;
