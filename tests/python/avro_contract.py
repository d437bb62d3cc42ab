"""The wire contract as an independent implementation sees it: the .avsc files read with
fastavro, fingerprints computed by fastavro, and the two framings written out by hand from the
Avro and Confluent specifications. Shared by the interoperability scripts; used only in tests."""

import datetime
import io
import json
import pathlib

import fastavro
import fastavro.schema

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# The pipeline's own records and the bank's; a path is relative to the root that holds it.
SCHEMA_ROOTS = (REPO_ROOT / "schemas" / "avro", REPO_ROOT / "examples" / "bank" / "avro")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def read(path):
    """The JSON of one .avsc file, its path relative to one of SCHEMA_ROOTS."""
    for root in SCHEMA_ROOTS:
        if (root / path).is_file():
            return json.loads((root / path).read_text())
    raise FileNotFoundError(f"no schema file {path} under any of {[str(r) for r in SCHEMA_ROOTS]}")


def load(path):
    """Parses one .avsc file (path relative to one of SCHEMA_ROOTS) with fastavro."""
    return fastavro.parse_schema(read(path))


def fingerprint(parsed):
    """The 8 bytes single-object encoding puts after C3 01, computed by fastavro."""
    canonical = fastavro.schema.to_parsing_canonical_form(parsed)
    return bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))


def all_schemas():
    """Every .avsc file: {fingerprint: (path, parsed schema)}."""
    found = {}
    for root in SCHEMA_ROOTS:
        for file in sorted(root.rglob("*.avsc")):
            path = file.relative_to(root).as_posix()
            parsed = load(path)
            found[fingerprint(parsed)] = (path, parsed)
    return found


def decode_datum(datum, parsed):
    """Decodes a bare Avro datum, failing on bytes left over."""
    stream = io.BytesIO(datum)
    value = fastavro.schemaless_reader(stream, parsed, None)
    rest = stream.read()
    if rest:
        raise ValueError(f"{len(rest)} bytes left over after the datum")
    return value


def encode_datum(value, parsed):
    """Encodes a value as a bare Avro datum."""
    stream = io.BytesIO()
    fastavro.schemaless_writer(stream, parsed, value)
    return stream.getvalue()


def to_json(value):
    """The JSON shape the Rust side uses: bytes as lists of ints, instants as epoch millis."""
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // datetime.timedelta(milliseconds=1)
    return value


def from_json(value, schema):
    """Turns the JSON shape back into what fastavro writes for `schema` (bytes from lists)."""
    if isinstance(schema, list):
        if value is None:
            return None
        branches = [branch for branch in schema if branch != "null"]
        return from_json(value, branches[0])
    if isinstance(schema, dict):
        kind = schema["type"]
        if kind == "record":
            return {field["name"]: from_json(value[field["name"]], field["type"]) for field in schema["fields"]}
        if kind == "bytes":
            return bytes(value)
        return value
    if schema == "bytes":
        return bytes(value)
    return value
