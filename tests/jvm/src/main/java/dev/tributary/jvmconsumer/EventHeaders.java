package dev.tributary.jvmconsumer;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Pattern;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * The headers every event record carries (README, "Wire contract"): UTF-8 text, numbers in
 * decimal, instants in milliseconds since the Unix epoch. Where a name repeats, the first
 * occurrence counts.
 */
record EventHeaders(
    String eventId,
    String eventType,
    long aggregateVersion,
    String commandId,
    String correlationId,
    long occurredAt) {

  private static final Pattern WHOLE_NUMBER = Pattern.compile("\\+?[0-9]+");
  private static final Pattern INTEGER = Pattern.compile("[+-]?[0-9]+");

  /** Parses the headers of an event record, naming the first one missing or malformed. */
  static EventHeaders parse(Headers headers) throws Undecodable {
    Map<String, byte[]> first = new HashMap<>();
    for (Header header : headers) {
      first.putIfAbsent(header.key(), header.value() == null ? new byte[0] : header.value());
    }
    return new EventHeaders(
        text(first, "event-id"),
        text(first, "event-type"),
        version(first),
        text(first, "command-id"),
        text(first, "correlation-id"),
        instant(first));
  }

  private static String text(Map<String, byte[]> headers, String name) throws Undecodable {
    byte[] bytes = headers.get(name);
    if (bytes == null || bytes.length == 0) {
      throw new Undecodable(
          "bad_headers", "record has no `" + name + "` header; every record of this topic must carry it");
    }
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes))
          .toString();
    } catch (CharacterCodingException e) {
      throw new Undecodable(
          "bad_headers",
          "header `" + name + "` has value " + SchemaDirectory.hex(bytes, 16) + ", which is not UTF-8 text");
    }
  }

  private static long version(Map<String, byte[]> headers) throws Undecodable {
    String text = text(headers, "aggregate-version");
    if (!WHOLE_NUMBER.matcher(text).matches()) {
      throw invalid("aggregate-version", text, "a positive whole number");
    }
    BigInteger value = new BigInteger(text.startsWith("+") ? text.substring(1) : text);
    // Beyond any real version; as a number it only ever skips versions.
    return value.bitLength() < 64 ? value.longValue() : Long.MAX_VALUE;
  }

  private static long instant(Map<String, byte[]> headers) throws Undecodable {
    String text = text(headers, "occurred-at");
    try {
      if (!INTEGER.matcher(text).matches()) {
        throw new NumberFormatException();
      }
      return Long.parseLong(text);
    } catch (NumberFormatException e) {
      throw invalid("occurred-at", text, "milliseconds since the Unix epoch");
    }
  }

  private static Undecodable invalid(String name, String value, String expected) {
    return new Undecodable(
        "bad_headers", "header `" + name + "` has value \"" + value + "\", which is not " + expected);
  }
}
