"""Consumes a topic with confluent-kafka (an independent client) and decodes each value with
fastavro, finding the writer schema by its fingerprint among the .avsc files alone.

usage: kafka_interop.py TOPIC COUNT

Prints one JSON object per record: key, partition, offset, headers (hex values), the schema
path, and the decoded value. Fails if COUNT records do not arrive within 60 seconds."""

import json
import os
import sys
import time
import uuid

from confluent_kafka import Consumer

import avro_contract


def main():
    topic, count = sys.argv[1], int(sys.argv[2])
    schemas = avro_contract.all_schemas()
    consumer = Consumer({
        "bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        "group.id": f"interop-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    records = []
    deadline = time.monotonic() + 60
    while len(records) < count:
        if time.monotonic() > deadline:
            sys.exit(f"only {len(records)} of {count} records arrived within 60 seconds")
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            sys.exit(f"consumer error: {message.error()}")
        value = message.value()
        if value[:2] != b"\xc3\x01":
            sys.exit(f"value at offset {message.offset()} is not single-object encoded")
        path, parsed = schemas[value[2:10]]
        records.append({
            "key": message.key().decode(),
            "partition": message.partition(),
            "offset": message.offset(),
            "headers": [[k, v.hex() if v is not None else None] for k, v in (message.headers() or [])],
            "schema": path,
            "value": avro_contract.to_json(avro_contract.decode_datum(value[10:], parsed)),
        })
    consumer.close()
    for record in sorted(records, key=lambda r: (r["partition"], r["offset"])):
        print(json.dumps(record))


if __name__ == "__main__":
    main()
