/**
 * End-to-end suites (TestNG): the {@code djl-moe} command line driven as a user drives it, the
 * catalogue of bad input of every layer ({@link ai.djl.moe.it.BadInputCatalogueTest}) and the
 * memory soak of 1,000 training steps ({@link ai.djl.moe.it.MemorySoakTest}).
 */
package ai.djl.moe.it;
