package dev.tributary.jvmconsumer;

/** Input the consumer cannot start with: bad arguments, schema files or topic names (exit 2). */
final class BadInput extends Exception {
  private static final long serialVersionUID = 1L;

  BadInput(String message) {
    super(message);
  }
}
