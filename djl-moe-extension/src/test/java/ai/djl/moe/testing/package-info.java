/** Test utilities shared by the modules' tests (published in the test jar). */
package ai.djl.moe.testing;
