package dev.tributary.jvmconsumer;

import java.util.Set;
import java.util.TreeMap;
import org.apache.avro.generic.GenericRecord;

/**
 * For an aggregate type this consumer has no read model of: only how many valid events of each
 * type it has (its version is kept by the version rule as for every aggregate).
 */
final class CountingFold implements Fold {
  private final Set<String> events;
  private final TreeMap<String, Long> counts = new TreeMap<>();

  CountingFold(Set<String> events) {
    this.events = events;
  }

  @Override
  public Set<String> events() {
    return events;
  }

  @Override
  public String apply(GenericRecord event) {
    counts.merge(event.getSchema().getFullName(), 1L, Long::sum);
    return null;
  }

  @Override
  public void describe(Json.Obj out) {
    Json.Obj byType = new Json.Obj();
    counts.forEach(byType::put);
    out.put("events", byType);
  }
}
