/** End-to-end suites (TestNG): the {@code djl-moe} command line driven as a user drives it. */
package ai.djl.moe.it;
