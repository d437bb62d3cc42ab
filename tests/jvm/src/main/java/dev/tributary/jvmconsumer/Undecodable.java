package dev.tributary.jvmconsumer;

/**
 * A record that cannot be understood, with a short stable label (the same labels the projector
 * writes into its dead letters: {@code bad_magic}, {@code unknown_fingerprint}, {@code bad_headers},
 * ...) and an explanation naming what was wrong.
 */
final class Undecodable extends Exception {
  private static final long serialVersionUID = 1L;

  /** Short, stable label. */
  final String reason;

  Undecodable(String reason, String message) {
    super(message);
    this.reason = reason;
  }
}
