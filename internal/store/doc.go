// Package store owns the mail spool: shards, each a transactional database
// of mailboxes, folders, message records (UID, flags, MODSEQ, dates, size,
// body reference), expunge tombstones, per-body metadata, and the shard's
// change log; plus the reference counts of the bodies in the blob store.
//
// Every change (append, flag change, expunge, folder create/rename/delete,
// subscription) is one transaction that also appends to the shard's change
// log with its new MODSEQ. Writes to a shard go through one writer goroutine
// that groups concurrent operations into one transaction (group commit), so
// concurrent deliveries share one fsync; each operation runs in its own
// savepoint, so one failing operation (over quota, say) does not fail the
// others of its group.
//
// The store knows no protocol: IMAP, LMTP and the API call it. It does not
// decide who may do what (the callers resolve accounts in the directory and
// check rights); it only keeps the data consistent.
//
// Engine: SQLite in WAL mode (one file per shard). The SQL avoids SQLite-only
// syntax where the PostgreSQL dialect agrees, so that a PostgreSQL engine can
// share it.
package store
