/**
 * Executes the Jupyter notebooks of {@code examples/notebooks} without Jupyter: {@link
 * ai.djl.moe.it.notebook.NotebookRunner} runs each notebook's code cells in order in a JShell (what
 * the IJava / JJava kernels are built on) with the test class path, translating the kernels' magics
 * and providing their {@code display(...)}.
 */
package ai.djl.moe.it.notebook;
