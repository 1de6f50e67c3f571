//! The shape of multi-row statements: their placeholders, how many rows each carries (by
//! count, and on PostgreSQL by bytes), and the padding that keeps their texts few.

use crate::{Backend, Store};

/// `($1, $2, …), (…)`: placeholders for `rows` rows of `cols` columns starting at `$start`,
/// bound in that order. On SQLite they are anonymous `?`: sqlx looks up the name of every
/// numbered parameter, and SQLite finds a name by a linear scan, which made large multi-row
/// statements quadratic (10 % of all CPU time in `cxhooks bench`).
pub(crate) fn placeholders(store: &Store, rows: usize, cols: usize, start: usize) -> String {
    if store.kind() == Backend::Sqlite {
        let row = format!("({})", vec!["?"; cols].join(", "));
        return vec![row; rows].join(", ");
    }
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(start + r * cols + c).to_string());
        }
        s.push(')');
    }
    s
}

/// Rows per multi-row statement: well under SQLite's 32,766 parameters.
pub(crate) const CHUNK: usize = 400;

/// Bytes of values a statement sent to PostgreSQL carries at most. sqlx encrypts a message in
/// TLS records of 16 KiB and writes each record with its own `send`, without `TCP_NODELAY`: past
/// the first, a record waited for the server's delayed ACK, up to 40 ms. Found in `cxhooks
/// bench` on PostgreSQL over TLS: a quarter of the machine idle, publishes queued on their usage
/// count's lock, each holder `idle in transaction` halfway through its deliveries' insert. A
/// statement that fits in one record is never held back: 10 KiB of rows leaves room for the
/// padding rows of [`padded_rows`] (a padding row costs less than half a real one) and the
/// message's own bytes. sqlx 0.9.0 lost `TCP_NODELAY` (transact-rs/sqlx#4335; the fix, #4336,
/// is not released yet). SQLite has no socket: its statements are bounded by [`CHUNK`] rows only.
const PG_MESSAGE_BUDGET: usize = 10 * 1024;

/// What a value costs in a bind message besides its bytes: its length and its format code.
const PER_VALUE: usize = 6;

/// A delivery row in a bind message besides its payload, tenant and event type: four ids, its
/// status and lease owner, eight numbers, and the cost of its 17 values.
pub(crate) const DELIVERY_ROW_BYTES: usize = 4 * 16 + 2 * 16 + 8 * 8 + 18 * PER_VALUE;

/// A change row besides its tenant, event type, entity id and body: an id, a number, 6 values.
const CHANGE_ROW_BYTES: usize = 16 + 8 + 6 * PER_VALUE;

/// What change `c` of `tenant` costs in a bind message.
pub(crate) fn change_row_bytes(tenant: &str, c: &crate::NewChange) -> usize {
    CHANGE_ROW_BYTES + tenant.len() + c.event_type.len() + c.entity_id.len() + c.body.len()
}

/// An outcome row besides its signature and its attempt's error and answer: an id, a lease
/// owner, a status, eight numbers, 13 values.
pub(crate) const COMPLETION_ROW_BYTES: usize = 16 + 16 + 16 + 8 * 8 + 13 * PER_VALUE;

/// An attempt row besides its error and answer: an id, four numbers, 7 values.
pub(crate) const ATTEMPT_ROW_BYTES: usize = 16 + 4 * 8 + 7 * PER_VALUE;

/// How many bytes of values one statement may carry on this store.
pub(crate) fn message_budget(store: &Store) -> usize {
    match store.kind() {
        Backend::Postgres => PG_MESSAGE_BUDGET,
        Backend::Sqlite => usize::MAX,
    }
}

/// Consecutive rows, `CHUNK` at most and together no more than `budget` bytes (a row larger
/// than the budget alone), given each row's size.
pub(crate) fn row_chunks(
    sizes: impl Iterator<Item = usize>,
    budget: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut chunks = Vec::new();
    let (mut start, mut end, mut bytes) = (0, 0, 0usize);
    for size in sizes {
        if end > start && (end - start == CHUNK || bytes.saturating_add(size) > budget) {
            chunks.push(start..end);
            (start, bytes) = (end, 0);
        }
        bytes = bytes.saturating_add(size);
        end += 1;
    }
    if end > start {
        chunks.push(start..end);
    }
    chunks
}

/// The rows a multi-row statement for `n` rows is written for: the next power of two (or
/// [`CHUNK`]), the rest padded with rows that match or insert nothing. Outcome batches come in
/// every size from 1 to 512, and each size was a new statement text: parsed and planned anew,
/// and pushing the prepared statements worth keeping out of the connection's cache. Parsing
/// them was a tenth of the SQLite thread's time in `cxhooks bench`.
pub(crate) fn padded_rows(n: usize) -> usize {
    n.next_power_of_two().min(CHUNK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_chunks_keep_to_the_budget_and_to_chunk_and_lose_no_row() {
        let flat = |chunks: &[std::ops::Range<usize>]| {
            chunks.iter().flat_map(|r| r.clone()).collect::<Vec<_>>()
        };
        assert!(row_chunks(std::iter::empty(), 100).is_empty());
        let by_bytes = row_chunks([40, 40, 40, 10, 90, 200, 5].into_iter(), 100);
        assert_eq!(by_bytes, [0..2, 2..4, 4..5, 5..6, 6..7]);
        assert_eq!(flat(&by_bytes), (0..7).collect::<Vec<_>>());
        let by_rows = row_chunks(std::iter::repeat_n(1, CHUNK * 2 + 3), usize::MAX);
        assert_eq!(
            by_rows,
            [0..CHUNK, CHUNK..2 * CHUNK, 2 * CHUNK..2 * CHUNK + 3]
        );
    }
}
