package dev.tributary.jvmconsumer;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads the events topics of a Tributary pipeline with the Apache Kafka Java client, from the
 * beginning of every partition to the end offsets it finds at start (partitions assigned, no
 * consumer group), decodes every value with Apache Avro from the {@code .avsc} files alone,
 * applies the version rule ({@link VersionRule}) and prints each aggregate's state as one JSON
 * line on stdout. Reports of skipped or unreadable records, and a closing summary line
 * ({@code jvm-consumer: summary {...}}), go to stderr.
 *
 * <p>Exit status: 0 when every partition was read to its end (whatever the records held), 1 when
 * the broker could not be read, 2 on bad arguments, schema files or topic names.
 */
public final class Main {
  private static final String USAGE =
      """
      usage: jvm-consumer --schemas DIR [--schemas DIR...] (--prefix PREFIX | --topic TOPIC...) [options]

        --schemas DIR              a directory of the contract's .avsc files (schemas/avro, and the
                                   domain's own); every file under DIR is loaded; repeat for more
        --prefix PREFIX            read every topic named PREFIX.<aggregate>.events
                                   (default: $TRIBUTARY_TOPIC_PREFIX, when no --topic is given)
        --topic TOPIC              read this events topic (<...>.<aggregate>.events); repeatable
        --bootstrap-servers LIST   brokers (default: $KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:9092)
        --property NAME=VALUE      an extra Kafka consumer property (security.protocol=SSL, ...); repeatable
        --timeout-seconds N        fail if the end offsets are not reached within N seconds (default 120)

      stdout: one JSON object per aggregate (id, version, its state, parked or not), ordered by type and ID
      stderr: every void, unreadable or parked-behind record with topic/partition@offset, then a summary
      """;

  private Main() {}

  /** Command-line options. */
  private record Options(
      List<Path> schemas,
      String prefix,
      List<String> topics,
      String bootstrapServers,
      Map<String, String> properties,
      Duration timeout) {}

  /** Entry point; see the class comment for the exit status. */
  public static void main(String[] args) {
    limitAvroAllocations();
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    PrintStream err = new PrintStream(System.err, true, StandardCharsets.UTF_8);
    int status;
    try {
      Options options = parse(args);
      if (options == null) {
        out.print(USAGE);
        out.flush();
        return;
      }
      status = run(options, out, err);
    } catch (BadInput e) {
      err.println("jvm-consumer: error: " + e.getMessage());
      status = 2;
    } catch (KafkaException | ReadTimeout e) {
      err.println("jvm-consumer: error: cannot read the topics: " + e);
      status = 1;
    }
    out.flush();
    System.exit(status);
  }

  /**
   * Keeps a corrupt length prefix from making Avro allocate gigabytes: no string, bytes or
   * collection in a Kafka record value can be longer than the value itself (at most a few MB).
   */
  private static void limitAvroAllocations() {
    for (String limit :
        List.of(
            "org.apache.avro.limits.string.maxLength",
            "org.apache.avro.limits.bytes.maxLength",
            "org.apache.avro.limits.collectionItems.maxLength")) {
      if (System.getProperty(limit) == null) {
        System.setProperty(limit, Integer.toString(64 << 20));
      }
    }
  }

  private static Options parse(String[] args) throws BadInput {
    List<Path> schemas = new ArrayList<>();
    String prefix = null;
    List<String> topics = new ArrayList<>();
    String bootstrap = null;
    Map<String, String> properties = new LinkedHashMap<>();
    long timeoutSeconds = 120;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (arg.equals("-h") || arg.equals("--help")) {
        return null;
      }
      if (!Set.of("--schemas", "--prefix", "--topic", "--bootstrap-servers", "--property", "--timeout-seconds")
          .contains(arg)) {
        throw new BadInput("unknown argument " + arg + "\n" + USAGE);
      }
      if (i + 1 >= args.length || args[i + 1].isEmpty()) {
        throw new BadInput(arg + " needs a value\n" + USAGE);
      }
      String value = args[++i];
      switch (arg) {
        case "--schemas" -> schemas.add(Path.of(value));
        case "--prefix" -> prefix = value;
        case "--topic" -> topics.add(value);
        case "--bootstrap-servers" -> bootstrap = value;
        case "--property" -> {
          int eq = value.indexOf('=');
          if (eq <= 0) {
            throw new BadInput("--property takes NAME=VALUE, not " + value);
          }
          properties.put(value.substring(0, eq), value.substring(eq + 1));
        }
        case "--timeout-seconds" -> {
          try {
            timeoutSeconds = Long.parseLong(value);
          } catch (NumberFormatException e) {
            timeoutSeconds = 0;
          }
          if (timeoutSeconds <= 0) {
            throw new BadInput("--timeout-seconds takes a positive whole number, not " + value);
          }
        }
        default -> throw new IllegalStateException(arg);
      }
    }
    if (schemas.isEmpty()) {
      throw new BadInput("--schemas DIR is required: the directory of the contract's .avsc files\n" + USAGE);
    }
    if (prefix != null && !topics.isEmpty()) {
      throw new BadInput("give either --prefix or --topic, not both");
    }
    if (prefix == null && topics.isEmpty()) {
      prefix = System.getenv("TRIBUTARY_TOPIC_PREFIX");
      if (prefix == null || prefix.isEmpty()) {
        throw new BadInput(
            "no topics: give --prefix PREFIX or --topic TOPIC (or set TRIBUTARY_TOPIC_PREFIX)\n" + USAGE);
      }
    }
    for (String topic : topics) {
      aggregateOf(topic);
    }
    if (bootstrap == null) {
      bootstrap = System.getenv().getOrDefault("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092");
    }
    return new Options(schemas, prefix, topics, bootstrap, properties, Duration.ofSeconds(timeoutSeconds));
  }

  /** The aggregate type of an events topic: {@code <prefix>.<aggregate>.events}. */
  private static String aggregateOf(String topic) throws BadInput {
    String[] parts = topic.split("\\.", -1);
    if (parts.length < 3 || !parts[parts.length - 1].equals("events") || parts[parts.length - 2].isEmpty()) {
      throw new BadInput(
          "topic " + topic + " is not an events topic: events topics are named <prefix>.<aggregate>.events");
    }
    return parts[parts.length - 2];
  }

  /** Signals that the end offsets were not reached in time. */
  private static final class ReadTimeout extends Exception {
    private static final long serialVersionUID = 1L;

    ReadTimeout(String message) {
      super(message);
    }

    @Override
    public String toString() {
      return getMessage();
    }
  }

  private static int run(Options options, PrintStream out, PrintStream err) throws BadInput, ReadTimeout {
    SchemaDirectory schemas = SchemaDirectory.load(options.schemas());
    Properties config = new Properties();
    config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, options.bootstrapServers());
    config.put(ConsumerConfig.CLIENT_ID_CONFIG, "tributary-jvm-consumer");
    config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    config.putAll(options.properties());
    Instant deadline = Instant.now().plus(options.timeout());

    VersionRule rule =
        new VersionRule(
            schemas,
            aggregate ->
                aggregate.equals("account")
                    ? new AccountFold()
                    : new CountingFold(schemas.eventsOf(aggregate)),
            err);
    Map<String, Map<String, Long>> perTopic = new LinkedHashMap<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(config)) {
      List<String> topics = topics(consumer, options, remaining(deadline));
      Map<String, String> aggregateOf = new HashMap<>();
      List<TopicPartition> partitions = new ArrayList<>();
      for (String topic : topics) {
        aggregateOf.put(topic, aggregateOf(topic));
        List<PartitionInfo> infos = consumer.partitionsFor(topic, remaining(deadline));
        if (infos == null || infos.isEmpty()) {
          throw new BadInput("topic " + topic + " does not exist on " + options.bootstrapServers());
        }
        for (PartitionInfo info : infos) {
          partitions.add(new TopicPartition(topic, info.partition()));
        }
        Map<String, Long> stats = new LinkedHashMap<>();
        stats.put("partitions", (long) infos.size());
        stats.put("records", 0L);
        perTopic.put(topic, stats);
      }
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> ends = consumer.endOffsets(partitions, remaining(deadline));
      Map<TopicPartition, Long> begins = consumer.beginningOffsets(partitions, remaining(deadline));
      Set<TopicPartition> pending = new HashSet<>();
      for (TopicPartition partition : partitions) {
        long begin = begins.getOrDefault(partition, 0L);
        if (begin > 0) {
          err.println(
              "jvm-consumer: warning: "
                  + partition
                  + " starts at offset "
                  + begin
                  + ": earlier records were deleted (retention), and the version rule needs an aggregate's whole log");
        }
        if (ends.get(partition) > begin) {
          pending.add(partition);
        }
      }
      consumer.pause(difference(partitions, pending));
      while (!pending.isEmpty()) {
        if (Instant.now().isAfter(deadline)) {
          throw new ReadTimeout(
              "the end offsets were not reached within "
                  + options.timeout().toSeconds()
                  + " s; still behind: "
                  + String.join(", ", describeBehind(consumer, pending, ends)));
        }
        ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
        for (TopicPartition partition : records.partitions()) {
          long end = ends.get(partition);
          for (ConsumerRecord<byte[], byte[]> record : records.records(partition)) {
            if (record.offset() >= end) {
              break;
            }
            perTopic.get(partition.topic()).merge("records", 1L, Long::sum);
            rule.accept(aggregateOf.get(partition.topic()), record);
          }
        }
        List<TopicPartition> done = new ArrayList<>();
        for (TopicPartition partition : pending) {
          if (consumer.position(partition, remaining(deadline)) >= ends.get(partition)) {
            done.add(partition);
          }
        }
        consumer.pause(done);
        done.forEach(pending::remove);
      }
    }
    for (VersionRule.Aggregate aggregate : rule.aggregates()) {
      out.println(aggregate.toJson());
    }
    out.flush();
    Json.Obj summary = new Json.Obj();
    Json.Obj topicsJson = new Json.Obj();
    perTopic.forEach(
        (topic, stats) -> {
          Json.Obj one = new Json.Obj();
          stats.forEach(one::put);
          topicsJson.put(topic, one);
        });
    summary.put("topics", topicsJson);
    rule.counts().forEach(summary::put);
    err.println("jvm-consumer: summary " + summary);
    return 0;
  }

  private static List<String> topics(KafkaConsumer<byte[], byte[]> consumer, Options options, Duration timeout)
      throws BadInput {
    if (!options.topics().isEmpty()) {
      return options.topics();
    }
    Pattern events = Pattern.compile(Pattern.quote(options.prefix()) + "\\.[^.]+\\.events");
    List<String> topics =
        consumer.listTopics(timeout).keySet().stream().filter(t -> events.matcher(t).matches()).sorted().toList();
    if (topics.isEmpty()) {
      throw new BadInput(
          "no topic named " + options.prefix() + ".<aggregate>.events on " + options.bootstrapServers());
    }
    return topics;
  }

  private static Duration remaining(Instant deadline) {
    Duration left = Duration.between(Instant.now(), deadline);
    return left.isNegative() ? Duration.ZERO : left;
  }

  private static List<TopicPartition> difference(List<TopicPartition> all, Set<TopicPartition> minus) {
    return all.stream().filter(p -> !minus.contains(p)).toList();
  }

  private static List<String> describeBehind(
      KafkaConsumer<byte[], byte[]> consumer, Set<TopicPartition> pending, Map<TopicPartition, Long> ends) {
    List<String> out = new ArrayList<>();
    for (TopicPartition partition : pending) {
      long position;
      try {
        position = consumer.position(partition, Duration.ofSeconds(1));
      } catch (KafkaException e) {
        position = -1;
      }
      out.add(partition + " at " + (position < 0 ? "?" : Long.toString(position)) + " of " + ends.get(partition));
    }
    out.sort(null);
    return out;
  }
}
