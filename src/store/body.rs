//! How an event's JSON is kept in `events.body`: as TEXT, or compressed with LZ4 as a BLOB (the
//! column's type says which, so rows written before compression read as they always did).
//!
//! An SD-WAN alarm's event is ~2 KB of JSON, so a 4 KiB page held one row, and every event cost
//! the writer (the one serial stage of ingest) a whole WAL frame, its copy and its checksum, then
//! the checkpointer a page write. LZ4 packs such a document into less than half, on the
//! caller's thread (the HTTP workers, in parallel), and inflates it at several GB/s when read.
//! Measured under `bench/ingest.sh`: BENCHMARKS.md.
//!
//! The BLOB is the uncompressed length (4 bytes, little-endian) and an LZ4 block.

use rusqlite::ToSql;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};

/// Below this, what compression saves does not pay for itself.
const MIN_COMPRESSED: usize = 512;

/// No stored body is larger: a length beyond it is a damaged row, not an allocation to make.
const MAX_INFLATED: usize = 256 << 20;

/// `json` compressed, when that saves at least an eighth of it.
pub(super) fn compress(json: &str) -> Option<Vec<u8>> {
    if json.len() < MIN_COMPRESSED {
        return None;
    }
    let packed = lz4_flex::block::compress_prepend_size(json.as_bytes());
    (packed.len() + packed.len() / 8 <= json.len()).then_some(packed)
}

/// The value bound to `events.body`: the compressed bytes when there are some, else the text.
pub(super) struct Column<'a> {
    pub json: &'a str,
    pub packed: Option<&'a [u8]>,
}

impl ToSql for Column<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.packed {
            Some(packed) => ValueRef::Blob(packed),
            None => ValueRef::Text(self.json.as_bytes()),
        }))
    }
}

/// A stored body as JSON text, whichever way it was stored.
pub(super) struct Body(pub String);

impl FromSql for Body {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Body> {
        let bytes = match value {
            ValueRef::Text(text) => text.to_vec(),
            ValueRef::Blob(packed) => {
                inflate(packed).map_err(|err| FromSqlError::Other(err.into()))?
            }
            _ => return Err(FromSqlError::InvalidType),
        };
        String::from_utf8(bytes)
            .map(Body)
            .map_err(|err| FromSqlError::Other(Box::new(err)))
    }
}

fn inflate(packed: &[u8]) -> Result<Vec<u8>, String> {
    let Some((size, block)) = packed.split_first_chunk::<4>() else {
        return Err("a compressed event body is shorter than its length".to_owned());
    };
    let size = u32::from_le_bytes(*size) as usize;
    if size > MAX_INFLATED {
        return Err(format!("a compressed event body claims {size} bytes"));
    }
    let json = lz4_flex::block::decompress(block, size)
        .map_err(|err| format!("a compressed event body is damaged: {err}"))?;
    if json.len() != size {
        return Err(format!(
            "a compressed event body inflates to {} bytes instead of {size}",
            json.len()
        ));
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn stored(conn: &Connection, json: &str) -> (String, String) {
        let packed = compress(json);
        conn.execute(
            "INSERT INTO t (body) VALUES (?1)",
            [Column {
                json,
                packed: packed.as_deref(),
            }],
        )
        .unwrap();
        conn.query_row(
            "SELECT typeof(body), body FROM t WHERE rowid = last_insert_rowid()",
            [],
            |row| Ok((row.get(0)?, row.get::<_, Body>(1)?.0)),
        )
        .unwrap()
    }

    #[test]
    fn a_large_document_is_stored_compressed_and_reads_back_unchanged() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (body)").unwrap();
        let alarm =
            include_str!("../../tests/data/sdwan/rest-alarm-bfd-node-down-inactive-20.x.json");
        let json = format!(r#"{{"specversion":"1.0","summary":"ünïcode","data":{alarm}}}"#);
        let (kind, back) = stored(&conn, &json);
        assert_eq!((kind.as_str(), back.as_str()), ("blob", json.as_str()));
        let packed = compress(&json).unwrap();
        assert!(
            packed.len() * 2 < json.len(),
            "{} of {}",
            packed.len(),
            json.len()
        );
        // A small or incompressible body stays text.
        assert_eq!(
            stored(&conn, r#"{"a":1}"#),
            ("text".to_owned(), r#"{"a":1}"#.to_owned())
        );
        let noise: String = (0..2000u32)
            .map(|n| char::from_u32(0x4e00 + n.wrapping_mul(2_654_435_761) % 20_000).unwrap())
            .collect();
        let json = format!(r#"{{"x":"{noise}"}}"#);
        assert_eq!(stored(&conn, &json).0, "text");
    }

    #[test]
    fn a_damaged_blob_is_an_error_not_a_panic_or_a_huge_allocation() {
        let conn = Connection::open_in_memory().unwrap();
        let read = |blob: &[u8]| {
            conn.query_row("SELECT ?1", [blob], |row| row.get::<_, Body>(0))
                .map(|body| body.0)
        };
        let packed = compress(&"{\"k\":\"vvvvvvvv\"}".repeat(100)).unwrap();
        assert!(read(&packed).is_ok());
        for damaged in [
            &packed[..3],
            &packed[..packed.len() / 2],
            &[0xff, 0xff, 0xff, 0xff, 0x10][..],
        ] {
            assert!(read(damaged).is_err(), "{damaged:?}");
        }
        let mut wrong_size = packed.clone();
        wrong_size[0] = wrong_size[0].wrapping_add(1);
        assert!(read(&wrong_size).is_err());
    }
}
