//! `#[pg_test]`s: crafted partial aggregate states. Users cannot pass an `internal` value, so
//! these reach the deserializers only from parallel workers; here they are fed directly, in a
//! real backend: a count that claims more than the bytes hold is refused before anything is
//! sized from it (a claim of 2^60 values used to become one allocation).

#[pgrx::pg_schema]
mod tests {
    use pgrx::pg_sys;
    use pgrx::prelude::*;

    /// Calls the deserialization function `name(bytea, internal)` of the extension on `bytes`.
    fn deserialize(name: &str, bytes: &[u8]) {
        let oid: pg_sys::Oid = Spi::get_one(&format!("SELECT 'segment.{name}(bytea, internal)'::regprocedure::oid")).unwrap().unwrap();
        unsafe {
            let d = crate::pg::varlena_from(bytes.len(), |o| o.copy_from_slice(bytes));
            pg_sys::OidFunctionCall2Coll(oid, pg_sys::InvalidOid, d, pg_sys::Datum::from(0usize));
        }
    }

    fn le<const N: usize>(parts: &[[u8; N]]) -> Vec<u8> {
        parts.iter().flatten().copied().collect()
    }

    #[pg_test(error = "kmeans partial state is truncated")]
    fn kmeans_state_claiming_2_to_the_61_values() {
        let mut b = vec![1u8, 1];
        b.extend(3u32.to_le_bytes());
        b.extend(le(&[2i64.to_le_bytes(), 0i64.to_le_bytes(), 1i64.to_le_bytes()]));
        b.extend(0u32.to_le_bytes());
        b.extend(1e300f64.to_le_bytes());
        b.extend((1u64 << 61).to_le_bytes());
        deserialize("_kmeans_deserialize", &b);
    }

    #[pg_test(error = "kmeans partial state has an impossible vector length")]
    fn kmeans_state_with_vectors_of_4_billion_values() {
        let mut b = vec![1u8, 1];
        b.extend(u32::MAX.to_le_bytes());
        b.extend([0u8; 64]);
        deserialize("_kmeans_deserialize", &b);
    }

    #[pg_test(error = "population partial state: truncated")]
    fn population_state_claiming_a_trillion_customers() {
        // the layout of crates/core/src/population/partial.rs (PSG2): as_of, window, as_of day,
        // rows, repeated rows, limit, options, zone, then the counts
        let mut b = 0x5053_4732u32.to_le_bytes().to_vec();
        b.extend(le(&[0i64.to_le_bytes(), i64::MIN.to_le_bytes(), 0i64.to_le_bytes()]));
        b.extend(le(&[0u64.to_le_bytes(), 0u64.to_le_bytes(), u64::MAX.to_le_bytes()]));
        b.extend(2u32.to_le_bytes());
        b.extend(b"{}");
        b.extend(3u32.to_le_bytes());
        b.extend(b"UTC");
        b.extend(le(&[(1u64 << 40).to_le_bytes(), 0u64.to_le_bytes(), 0u64.to_le_bytes()]));
        deserialize("_population_deserialize", &b);
    }

    #[pg_test(error = "rfm_breaks partial state is truncated")]
    fn rfm_breaks_state_claiming_2_to_the_60_customers() {
        let mut b = 0i64.to_le_bytes().to_vec();
        b.extend(5i32.to_le_bytes());
        b.extend(2u32.to_le_bytes());
        b.extend(b"{}");
        b.extend(0u32.to_le_bytes());
        b.extend((1u64 << 60).to_le_bytes());
        deserialize("_breaks_deserialize", &b);
    }

    #[pg_test(error = "behaviour_tags partial state is truncated")]
    fn tags_state_claiming_4_billion_categories() {
        let mut b = vec![1u8];
        b.extend(0u32.to_le_bytes());
        b.extend([0u8; 40 + 16]);
        b.extend(u32::MAX.to_le_bytes());
        deserialize("_tags_deserialize", &b);
    }

    #[pg_test(error = "behaviour_tags partial state is truncated")]
    fn tags_state_claiming_2_to_the_61_orders() {
        let mut b = vec![1u8];
        b.extend(0u32.to_le_bytes());
        b.extend([0u8; 40 + 16]);
        b.extend(0u32.to_le_bytes());
        b.extend((1u64 << 61).to_le_bytes());
        deserialize("_tags_deserialize", &b);
    }

    #[pg_test(error = "fit state: length does not match the tuple count")]
    fn clv_state_claiming_2_to_the_60_tuples() {
        // the fit state's unit byte (0: none), then the tuples' version
        let mut b = vec![0u8, 1u8];
        b.extend((1u64 << 60).to_le_bytes());
        deserialize("_bgnbd_deserialize", &b);
    }
}
