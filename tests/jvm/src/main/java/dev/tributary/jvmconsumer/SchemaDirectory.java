package dev.tributary.jvmconsumer;

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.AvroTypeException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.SchemaParseException;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.SchemaStore;

/**
 * Every {@code .avsc} file under one or more directories (the pipeline's {@code schemas/avro} and a
 * domain's own, e.g. {@code examples/bank/avro}), and the decoding
 * of single-object encoded values with them alone: Avro's {@link BinaryMessageDecoder} finds the
 * writer schema by the value's fingerprint in a {@link SchemaStore.Cache} holding every file, and
 * resolves the value into the newest version ({@code vN.avsc} with the highest N) of its record,
 * so a value of an older version reads with the fields the newer one added set to their defaults.
 */
final class SchemaDirectory {
  /** One schema file. */
  record Version(String path, String fullName, int version, Schema schema, long fingerprint) {
    String label() {
      return fullName + " v" + version + " (" + path + ")";
    }
  }

  /** A decoded value: the record (in its newest version's shape) and the schema it was written with. */
  record Decoded(GenericRecord record, Version writer) {}

  private static final Pattern VERSION_FILE = Pattern.compile("v([1-9][0-9]*)\\.avsc");

  private final List<Path> roots;
  private final Map<Long, Version> byFingerprint;
  private final Map<String, Version> newest;
  private final BinaryMessageDecoder<GenericRecord> decoder;

  private SchemaDirectory(
      List<Path> roots, Map<Long, Version> byFingerprint, Map<String, Version> newest, SchemaStore store) {
    this.roots = roots;
    this.byFingerprint = byFingerprint;
    this.newest = newest;
    // The reader schema is a union of the newest version of every record: Avro resolves a
    // writer record into the union's branch of the same full name.
    Schema reader = Schema.createUnion(newest.values().stream().map(Version::schema).toList());
    this.decoder = new BinaryMessageDecoder<>(GenericData.get(), reader, store);
  }

  /** The {@code .avsc} files under {@code root}, sorted. */
  private static List<Path> avscFiles(Path root) throws BadInput {
    if (!Files.isDirectory(root)) {
      throw new BadInput("schemas directory " + root + " does not exist or is not a directory");
    }
    List<Path> files;
    try (Stream<Path> walk = Files.walk(root)) {
      files =
          walk.filter(p -> p.getFileName().toString().endsWith(".avsc") && Files.isRegularFile(p))
              .sorted()
              .toList();
    } catch (IOException e) {
      throw new BadInput("cannot list the schemas under " + root + ": " + e.getMessage());
    }
    if (files.isEmpty()) {
      throw new BadInput("no .avsc file under " + root + ": pass a directory of the contract's .avsc files");
    }
    return files;
  }

  /** Loads every {@code .avsc} under each of {@code roots}, refusing what the contract forbids. */
  static SchemaDirectory load(List<Path> roots) throws BadInput {
    SchemaStore.Cache store = new SchemaStore.Cache();
    Map<Long, Version> byFingerprint = new HashMap<>();
    Map<String, Version> newest = new TreeMap<>();
    Map<String, Version> byNameAndVersion = new HashMap<>();
    for (Path root : roots) {
      for (Path file : avscFiles(root)) {
        addFile(root, file, store, byFingerprint, newest, byNameAndVersion);
      }
    }
    return new SchemaDirectory(roots, byFingerprint, newest, store);
  }

  private static void addFile(
      Path root,
      Path file,
      SchemaStore.Cache store,
      Map<Long, Version> byFingerprint,
      Map<String, Version> newest,
      Map<String, Version> byNameAndVersion)
      throws BadInput {
    String path = root.relativize(file).toString();
    Matcher name = VERSION_FILE.matcher(file.getFileName().toString());
    if (!name.matches()) {
      throw new BadInput(
          "schema file " + path + " is not named vN.avsc: name each published version v1.avsc, v2.avsc, ...");
    }
    Schema schema;
    try {
      // A parser per file: versions of one record define the same name.
      schema = new Schema.Parser().parse(file.toFile());
    } catch (SchemaParseException | IOException e) {
      throw new BadInput("schema file " + path + " is not a valid Avro schema: " + e.getMessage());
    }
    if (schema.getType() != Schema.Type.RECORD) {
      throw new BadInput(
          "schema file " + path + " holds a " + schema.getType() + ", not a record; every value on the wire is a record");
    }
    Version version =
        new Version(
            path,
            schema.getFullName(),
            Integer.parseInt(name.group(1)),
            schema,
            SchemaNormalization.parsingFingerprint64(schema));
    Version sameForm = byFingerprint.putIfAbsent(version.fingerprint(), version);
    if (sameForm != null) {
      throw new BadInput(
          "schema files " + sameForm.path() + " and " + path + " have the same fingerprint: delete the copy");
    }
    Version sameVersion = byNameAndVersion.putIfAbsent(version.fullName() + " v" + version.version(), version);
    if (sameVersion != null) {
      throw new BadInput(
          "schema files " + sameVersion.path() + " and " + path + " are the same version of one record: renumber one");
    }
    store.addSchema(schema);
    newest.merge(version.fullName(), version, (a, b) -> a.version() >= b.version() ? a : b);
  }

  /** How many schema files were loaded. */
  int size() {
    return byFingerprint.size();
  }

  /**
   * The full names of the records whose files lie under {@code <a root>/<aggregate>/events/}: what an
   * events topic of that aggregate type may hold besides {@code tributary.protocol.CommandRefused}.
   */
  Set<String> eventsOf(String aggregate) {
    Set<String> names = new TreeSet<>();
    String prefix = aggregate + "/events/";
    for (Version version : byFingerprint.values()) {
      if (version.path().replace('\\', '/').startsWith(prefix)) {
        names.add(version.fullName());
      }
    }
    return names;
  }

  /** Decodes a single-object encoded value, or says exactly why it cannot be decoded. */
  Decoded decode(byte[] value) throws Undecodable {
    if (value == null) {
      throw new Undecodable("no_value", "the record has no value (a tombstone on an events topic)");
    }
    if (value.length >= 1 && value[0] == 0x00) {
      if (value.length < 5) {
        throw new Undecodable(
            "truncated",
            "value is truncated: Confluent framing needs at least 5 bytes, the value has " + value.length);
      }
      int id = ByteBuffer.wrap(value, 1, 4).order(ByteOrder.BIG_ENDIAN).getInt();
      throw new Undecodable(
          "unknown_schema_id",
          "value is in Confluent framing with schema ID "
              + Integer.toUnsignedString(id)
              + ": schema IDs are assigned by a Schema Registry, and this consumer reads the .avsc files alone (single-object encoding, C3 01 + fingerprint)");
    }
    if (value.length < 2 || (value[0] & 0xff) != 0xC3 || value[1] != 0x01) {
      if (value.length == 1 && (value[0] & 0xff) == 0xC3) {
        throw new Undecodable(
            "truncated", "value is truncated: single-object framing needs at least 10 bytes, the value has 1");
      }
      throw new Undecodable(
          "bad_magic",
          "value starts with "
              + hex(value, 4)
              + ", which is neither Avro single-object encoding (C3 01) nor Confluent framing (00): it was not written by an Avro producer of this contract");
    }
    if (value.length < 10) {
      throw new Undecodable(
          "truncated",
          "value is truncated: single-object framing needs at least 10 bytes, the value has " + value.length);
    }
    long fingerprint = ByteBuffer.wrap(value, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    Version writer = byFingerprint.get(fingerprint);
    if (writer == null) {
      throw new Undecodable(
          "unknown_fingerprint",
          "value names writer schema fingerprint "
              + hex(Arrays.copyOfRange(value, 2, 10), 8)
              + ", which none of the "
              + size()
              + " .avsc files under "
              + roots
              + " has: the record was written with a schema this contract does not publish");
    }
    ByteArrayInputStream in = new ByteArrayInputStream(value);
    GenericRecord record;
    try {
      record = decoder.decode(in, null);
    } catch (AvroTypeException e) {
      Version reader = newest.get(writer.fullName());
      throw new Undecodable(
          "not_resolvable",
          "value written with " + writer.label() + " cannot be read as " + reader.label() + ": " + describe(e));
    } catch (AvroRuntimeException | IOException e) {
      throw new Undecodable(
          "does_not_match_schema",
          "value does not match its writer schema " + writer.label() + ": " + describe(e));
    }
    int left = in.available();
    if (left > 0) {
      byte[] rest = Arrays.copyOfRange(value, value.length - left, value.length);
      throw new Undecodable(
          "does_not_match_schema",
          "value does not match its writer schema "
              + writer.label()
              + ": "
              + left
              + " bytes left over after the record ("
              + hex(rest, 8)
              + ")");
    }
    return new Decoded(record, writer);
  }

  /** The first {@code max} bytes in hex, with an ellipsis when there are more. */
  static String hex(byte[] bytes, int max) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < Math.min(bytes.length, max); i++) {
      if (i > 0) {
        out.append(' ');
      }
      out.append(String.format("%02X", bytes[i] & 0xff));
    }
    if (bytes.length > max) {
      out.append(" ...");
    }
    return bytes.length == 0 ? "(nothing)" : out.toString();
  }

  /** An exception and its causes, in words. */
  private static String describe(Throwable e) {
    List<String> parts = new ArrayList<>();
    for (Throwable t = e; t != null && parts.size() < 4; t = t.getCause()) {
      String message = t.getMessage();
      if (t instanceof EOFException) {
        parts.add("the data ends before the record does (truncated)");
      } else if (message != null && !message.isBlank()) {
        parts.add(message);
      } else {
        parts.add(t.getClass().getSimpleName());
      }
    }
    return String.join(": ", parts);
  }
}
