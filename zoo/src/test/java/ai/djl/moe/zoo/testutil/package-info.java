/** Test helpers: access to the copied Hugging Face fixtures. */
package ai.djl.moe.zoo.testutil;
