package dev.tributary.jvmconsumer;

import java.util.Set;
import org.apache.avro.generic.GenericRecord;

/** The state of one aggregate, folded from its valid events in version order. */
interface Fold {
  /**
   * The full Avro names of the events of this aggregate type; a record of any other type on its
   * topic cannot be understood ({@code tributary.protocol.CommandRefused} is handled before a fold
   * sees anything: it takes its version and changes no state).
   */
  Set<String> events();

  /**
   * Applies one valid event. Returns null when applied, or why it cannot be applied, in which
   * case the state is left as it was.
   */
  String apply(GenericRecord event);

  /** Adds the state's fields to an output line. */
  void describe(Json.Obj out);
}
