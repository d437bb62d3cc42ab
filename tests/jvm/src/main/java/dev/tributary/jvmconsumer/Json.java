package dev.tributary.jvmconsumer;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Just enough JSON writing for the output lines: objects keep their keys in insertion order. */
final class Json {
  private Json() {}

  /** An object under construction. */
  static final class Obj {
    private final Map<String, Object> fields = new LinkedHashMap<>();

    /** Sets {@code key}; values are strings, numbers, booleans, null, lists or objects. */
    Obj put(String key, Object value) {
      fields.put(key, value);
      return this;
    }

    @Override
    public String toString() {
      StringBuilder out = new StringBuilder();
      write(this, out);
      return out.toString();
    }
  }

  static void write(Object value, StringBuilder out) {
    if (value == null) {
      out.append("null");
    } else if (value instanceof String text) {
      string(text, out);
    } else if (value instanceof Long || value instanceof Integer || value instanceof Boolean) {
      out.append(value);
    } else if (value instanceof Obj obj) {
      out.append('{');
      boolean first = true;
      for (Map.Entry<String, Object> field : obj.fields.entrySet()) {
        if (!first) {
          out.append(',');
        }
        first = false;
        string(field.getKey(), out);
        out.append(':');
        write(field.getValue(), out);
      }
      out.append('}');
    } else if (value instanceof List<?> list) {
      out.append('[');
      for (int i = 0; i < list.size(); i++) {
        if (i > 0) {
          out.append(',');
        }
        write(list.get(i), out);
      }
      out.append(']');
    } else {
      throw new IllegalArgumentException("no JSON form for " + value.getClass());
    }
  }

  private static void string(String text, StringBuilder out) {
    out.append('"');
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    out.append('"');
  }
}
