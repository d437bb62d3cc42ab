package dev.tributary.jvmconsumer;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The version rule of the README ("Wire contract"), applied to the records of events topics in
 * log order, per aggregate (the record key):
 *
 * <ul>
 *   <li>the first record whose {@code aggregate-version} is one more than the aggregate's last
 *       valid version is the event at that version; any other record (a duplicate, a write of a
 *       processor that had lost its partition, or one that skips versions) is void and skipped,
 *       counted and reported, never applied;
 *   <li>a valid {@code tributary.protocol.CommandRefused} record is a refused command: it takes its
 *       version and changes no state;
 *   <li>a record that cannot be understood is never skipped silently: when its headers cannot be
 *       read, its version is unknown; when its headers say it is the next version but its value
 *       cannot be decoded (or is not an event of the topic's aggregate type, or cannot be applied),
 *       it is the valid record at that version and takes it. Either way what the aggregate became
 *       is unknown from there, so the aggregate is parked: it keeps the state before that record,
 *       and none of its later records is applied (the projector does the same: dead letter, park).
 *       A record without a usable key belongs to no aggregate; it is reported and skipped.
 * </ul>
 *
 * Every skipped or unreadable record is reported on stderr with its topic, partition and offset.
 */
final class VersionRule {
  /** Full name of the protocol's refusal record. */
  static final String COMMAND_REFUSED = "tributary.protocol.CommandRefused";

  /** Where a record is: {@code topic/partition@offset}. */
  record Coordinates(String topic, int partition, long offset) {
    @Override
    public String toString() {
      return topic + "/" + partition + "@" + offset;
    }
  }

  /** Why and where an aggregate stopped. */
  record Parked(Coordinates at, String reason, String error, Long version) {}

  /** One aggregate: the version rule's state plus its fold. */
  static final class Aggregate {
    final String type;
    final String id;
    final Coordinates first;
    final Fold fold;
    /** The last valid version: the version the next event must be one more than. */
    long validVersion;
    /** The version of the state shown: the last valid record that was applied. */
    long appliedVersion;
    /** {@code occurred-at} of that record. */
    Long updatedAtMs;
    Parked parked;

    Aggregate(String type, String id, Coordinates first, Fold fold) {
      this.type = type;
      this.id = id;
      this.first = first;
      this.fold = fold;
    }

    String name() {
      return type + " " + id;
    }

    Json.Obj toJson() {
      Json.Obj out =
          new Json.Obj()
              .put("aggregate", type)
              .put("id", id)
              .put("version", appliedVersion)
              .put("updated_at_ms", updatedAtMs)
              .put("topic", first.topic())
              .put("partition", first.partition());
      fold.describe(out);
      Json.Obj parkedJson = null;
      if (parked != null) {
        parkedJson =
            new Json.Obj()
                .put("topic", parked.at().topic())
                .put("partition", parked.at().partition())
                .put("offset", parked.at().offset())
                .put("version", parked.version())
                .put("reason", parked.reason())
                .put("error", parked.error());
      }
      return out.put("parked", parkedJson);
    }
  }

  private final SchemaDirectory schemas;
  private final Function<String, Fold> folds;
  private final PrintStream report;
  private final Map<String, Aggregate> aggregates = new LinkedHashMap<>();
  private final Map<String, Long> counts = new LinkedHashMap<>();

  VersionRule(SchemaDirectory schemas, Function<String, Fold> folds, PrintStream report) {
    this.schemas = schemas;
    this.folds = folds;
    this.report = report;
    for (String name :
        List.of(
            "records",
            "applied",
            "refused_commands",
            "void_stale",
            "void_gap",
            "undecodable",
            "behind_parked",
            "unattributable",
            "misplaced")) {
      counts.put(name, 0L);
    }
  }

  private void count(String name) {
    counts.merge(name, 1L, Long::sum);
  }

  private void say(String kind, Coordinates at, String text) {
    report.println("jvm-consumer: " + kind + " " + at + ": " + text);
  }

  /** Judges one record of the events topic of {@code aggregateType}, in log order. */
  void accept(String aggregateType, ConsumerRecord<byte[], byte[]> record) {
    Coordinates at = new Coordinates(record.topic(), record.partition(), record.offset());
    count("records");
    String id = key(record.key());
    if (id == null) {
      count("unattributable");
      say(
          "no-key",
          at,
          "the record has no UTF-8 key; the key must be the aggregate ID. It belongs to no aggregate and is skipped");
      return;
    }
    Aggregate aggregate =
        aggregates.computeIfAbsent(
            aggregateType + "\u0000" + id,
            k -> new Aggregate(aggregateType, id, at, folds.apply(aggregateType)));
    if (aggregate.first.partition() != at.partition() || !aggregate.first.topic().equals(at.topic())) {
      count("misplaced");
      say(
          "misplaced",
          at,
          aggregate.name()
              + " was first seen at "
              + aggregate.first
              + ": one aggregate's records must share a partition, or their log order is undefined");
    }
    if (aggregate.parked != null) {
      count("behind_parked");
      say(
          "parked",
          at,
          aggregate.name() + " is parked behind " + aggregate.parked.at() + "; this record is not applied");
      return;
    }
    EventHeaders headers;
    try {
      headers = EventHeaders.parse(record.headers());
    } catch (Undecodable e) {
      park(
          aggregate,
          at,
          e,
          null,
          "Its version cannot be read, so it may be the next event: "
              + aggregate.name()
              + " is parked at version "
              + aggregate.appliedVersion);
      return;
    }
    long version = headers.aggregateVersion();
    if (version != aggregate.validVersion + 1) {
      boolean stale = version <= aggregate.validVersion;
      count(stale ? "void_stale" : "void_gap");
      say(
          "void",
          at,
          aggregate.name()
              + ": aggregate-version "
              + version
              + ", but the last valid version is "
              + aggregate.validVersion
              + (stale
                  ? ": a duplicate or the write of a processor that had lost its partition"
                  : ": it skips versions, so it is not the next event")
              + "; skipped ("
              + headers.eventType()
              + ")");
      return;
    }
    // The valid record at `version`, whatever its value holds.
    SchemaDirectory.Decoded decoded;
    try {
      decoded = understand(aggregate, headers, record.value());
    } catch (Undecodable e) {
      aggregate.validVersion = version;
      park(
          aggregate,
          at,
          e,
          version,
          "It is the valid record at version "
              + version
              + " (the first one after version "
              + aggregate.appliedVersion
              + "), so it takes that version; "
              + aggregate.name()
              + " is parked at version "
              + aggregate.appliedVersion);
      return;
    }
    String type = decoded.record().getSchema().getFullName();
    if (type.equals(COMMAND_REFUSED)) {
      count("refused_commands");
    } else {
      String problem = aggregate.fold.apply(decoded.record());
      if (problem != null) {
        aggregate.validVersion = version;
        park(
            aggregate,
            at,
            new Undecodable("cannot_apply", problem),
            version,
            "It is the valid record at version "
                + version
                + " but cannot be applied; "
                + aggregate.name()
                + " is parked at version "
                + aggregate.appliedVersion);
        return;
      }
      count("applied");
    }
    aggregate.validVersion = version;
    aggregate.appliedVersion = version;
    aggregate.updatedAtMs = headers.occurredAt();
  }

  /** The value as an event of the aggregate's type, consistent with its {@code event-type}. */
  private SchemaDirectory.Decoded understand(Aggregate aggregate, EventHeaders headers, byte[] value)
      throws Undecodable {
    SchemaDirectory.Decoded decoded = schemas.decode(value);
    String type = decoded.record().getSchema().getFullName();
    if (!type.equals(headers.eventType())) {
      throw new Undecodable(
          "header_mismatch",
          "the event-type header says " + headers.eventType() + " but the value is a " + decoded.writer().label());
    }
    if (!type.equals(COMMAND_REFUSED) && !aggregate.fold.events().contains(type)) {
      throw new Undecodable(
          "unexpected_record",
          "the value is a "
              + decoded.writer().label()
              + ", which is not an event of aggregate type "
              + aggregate.type);
    }
    return decoded;
  }

  private void park(Aggregate aggregate, Coordinates at, Undecodable e, Long version, String consequence) {
    count("undecodable");
    aggregate.parked = new Parked(at, e.reason, e.getMessage(), version);
    say(
        "undecodable",
        at,
        aggregate.name()
            + (version == null ? "" : ", aggregate-version " + version)
            + ": "
            + e.reason
            + ": "
            + e.getMessage()
            + ". "
            + consequence
            + ", and none of its later records is applied");
  }

  private static String key(byte[] key) {
    if (key == null || key.length == 0) {
      return null;
    }
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(key))
          .toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  /** Every aggregate seen, ordered by type and ID. */
  List<Aggregate> aggregates() {
    List<Aggregate> all = new ArrayList<>(aggregates.values());
    all.sort(Comparator.comparing((Aggregate a) -> a.type).thenComparing(a -> a.id));
    return all;
  }

  /** The counts, plus the number of aggregates and of parked ones. */
  Map<String, Long> counts() {
    Map<String, Long> out = new TreeMap<>(counts);
    out.put("aggregates", (long) aggregates.size());
    out.put("parked_aggregates", aggregates.values().stream().filter(a -> a.parked != null).count());
    return out;
  }
}
