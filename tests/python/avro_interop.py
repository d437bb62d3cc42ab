"""Reads values written by Tributary's codec with fastavro, and writes the same values with
fastavro for Tributary's codec to read.

usage: avro_interop.py CASES_JSON OUT_JSON

Each case names a schema file, a framing (single-object or confluent, with its schema ID), the
value as JSON and the bytes Tributary wrote. For each, this script checks the frame header
against a fingerprint it computes itself, decodes the datum with fastavro using only the .avsc
file, compares it with the value, then encodes the value with fastavro in the same framing and
reports those bytes. Exits non-zero naming the first case that fails."""

import json
import struct
import sys

import avro_contract


def header(case, parsed):
    if case["framing"] == "single-object":
        return b"\xc3\x01" + avro_contract.fingerprint(parsed)
    return b"\x00" + struct.pack(">I", case["schema_id"])


def check(case):
    parsed = avro_contract.load(case["path"])
    written = bytes.fromhex(case["encoded_hex"])
    expected_header = header(case, parsed)
    if not written.startswith(expected_header):
        raise AssertionError(f"header {written[:10].hex()} != {expected_header.hex()}")
    decoded = avro_contract.to_json(avro_contract.decode_datum(written[len(expected_header):], parsed))
    if decoded != case["value"]:
        raise AssertionError(f"fastavro decoded {decoded!r}, expected {case['value']!r}")
    raw = avro_contract.read(case["path"])
    ours = expected_header + avro_contract.encode_datum(avro_contract.from_json(case["value"], raw), parsed)
    return {"path": case["path"], "framing": case["framing"], "python_hex": ours.hex()}


def main():
    cases = json.loads(open(sys.argv[1]).read())
    results = []
    for case in cases:
        try:
            results.append(check(case))
        except Exception as error:  # report which case, then fail
            sys.exit(f"{case['path']} ({case['framing']}): {error}")
    with open(sys.argv[2], "w") as out:
        json.dump(results, out)
    print(f"{len(results)} cases read and written by fastavro")


if __name__ == "__main__":
    main()
