/** The {@code djl-moe} command line and its subcommands. */
package ai.djl.moe.examples.cli;
