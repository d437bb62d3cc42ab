//! Which partition a key belongs to: the Java client's default partitioner, bit for bit.
//!
//! Commands and events of one aggregate must land on the same partition number, and other
//! Kafka clients (Java, librdkafka's `murmur2_random`, Kafka Streams) must agree on where a key
//! lives, so placement is murmur2 of the key bytes, made positive by masking the sign bit, modulo
//! the partition count — exactly `Utils.toPositive(Utils.murmur2(key)) % numPartitions`.

/// The partition of `key` in a topic with `partition_count` partitions.
///
/// `partition_count` must be positive; a topic cannot have zero partitions.
pub fn partition_for_key(key: &[u8], partition_count: i32) -> i32 {
    debug_assert!(partition_count > 0, "a topic has at least one partition");
    let positive = murmur2(key) & 0x7fff_ffff;
    (positive % partition_count.max(1) as u32) as i32
}

/// Kafka's 32-bit murmur2 hash (seed `0x9747b28c`), as `org.apache.kafka.common.utils.Utils`
/// computes it.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    let mut h: u32 = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of Kafka's own `UtilsTest.testMurmur2`, as signed Java ints.
    #[test]
    fn matches_the_java_client_test_vectors() {
        let cases: [(&str, i32); 6] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key.as_bytes()) as i32, expected, "murmur2({key:?})");
        }
    }

    #[test]
    fn partition_is_in_range_and_stable() {
        for count in [1, 2, 3, 8, 12, 100] {
            for key in ["", "a", "counter-1", "user@example.com"] {
                let partition = partition_for_key(key.as_bytes(), count);
                assert!((0..count).contains(&partition));
                assert_eq!(partition, partition_for_key(key.as_bytes(), count));
            }
        }
    }

    #[test]
    fn negative_hashes_are_masked_not_negated() {
        // murmur2("21") is negative as a Java int: toPositive masks the sign bit.
        let hash = murmur2(b"21");
        assert!((hash as i32) < 0);
        assert_eq!(
            partition_for_key(b"21", 8),
            ((hash & 0x7fff_ffff) % 8) as i32
        );
    }
}
