/*
 * wal.h: the write-ahead log that makes a batch durable with one sequential flush. Internal to
 * store/, not installed: only the store's own files include it.
 *
 * A durable LMDB commit flushes every page the transaction dirtied, wherever it is in the file,
 * then the meta page: two flushes, and with pseudonymous ids a scattered page per event. In WAL
 * mode a batch is made durable instead by appending its writes (the batch's journal, journal.h,
 * as sealed as what LMDB holds) to a log segment and flushing that one file; LMDB commits the
 * same writes without syncing (MDB_NOSYNC), so readers see them at once, and its file is
 * brought to disk from time to time by a checkpoint, on a thread of its own.
 *
 * What keeps LMDB's file sound under a power cut, since MDB_NOSYNC gives no write order:
 *   - A checkpoint: mdb_env_sync (every page of every commit so far on disk), then the two meta
 *     pages as they were right after the checkpointed commit S are saved in DIR/wal.checkpoint
 *     (written aside, synced, renamed), with the first segment whose records come after S.
 *   - Snapshot S's pages are never reused until the next checkpoint is saved: a read
 *     transaction opened right after commit S (the pin) keeps LMDB from recycling them.
 *   - At open, when DIR/wal.checkpoint exists (the daemon did not stop cleanly), both meta pages
 *     are written back from it, which brings the file back to snapshot S whatever pages or meta
 *     pages of later commits the cut kept, and every whole record of the segments from the first
 *     one on is replayed, in order, up to the first record cut short (never acknowledged: its
 *     flush did not return). Then the file is synced and the log removed.
 *   - A clean close syncs the file and removes the log: a store without wal.checkpoint is whole.
 * Growing the map needs no transaction open: the store first checkpoints synchronously, drops
 * the pin, grows, and pins again (store_map_grow).
 *
 * Records: a 16-byte header (magic "PWAL", payload length, SipHash of the payload under a fixed
 * key: it finds a torn record, not an attacker, who could rewrite data.mdb as well) and the
 * payload. Segments are DIR/wal.<16 hex digits>, a new one at each checkpoint.
 */
#ifndef PARCOURS_STORE_WAL_H
#define PARCOURS_STORE_WAL_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wal wal_t;

/* The databases a record's writes name by their index, in this order (store.c's table). */
typedef struct wal_databases {
    const char *const *names;
    const unsigned *flags;
    size_t n;
} wal_databases_t;

/*
 * Before the store opens DIR: when DIR/wal.checkpoint exists, restores the meta pages it holds
 * into DIR/data.mdb, replays the log's whole records into it (map_size: the map to open it
 * with), syncs it and removes the log. *replayed gets the number of records replayed. STORE_OK
 * (also when there was nothing to do), STORE_ECORRUPT (a checkpoint file that is not one), or
 * an I/O or LMDB error (nothing is removed then: the next open tries again).
 */
int wal_recover(const char *dir, size_t map_size, const wal_databases_t *dbs, unsigned *replayed);

/*
 * Enters WAL mode on env, opened on dir with every commit so far synchronous: syncs it, saves a
 * first checkpoint, pins it, sets MDB_NOSYNC and opens the first segment, and starts the
 * checkpoint thread. On success *out is the caller's (wal_stop).
 */
int wal_start(const char *dir, MDB_env *env, unsigned checkpoint_ms, wal_t **out);

/*
 * Stops the checkpoint thread and drops the pin. clean: syncs the environment and removes the
 * log (the store is whole); otherwise leaves everything for wal_recover. Clears MDB_NOSYNC.
 * Sets *w to NULL; takes NULL.
 */
void wal_stop(wal_t **w, bool clean);

/* The bytes a record's header takes, before its payload. */
#define WAL_RECORD_HEAD 16

/* Appends one record to the segment, not flushed: record holds WAL_RECORD_HEAD bytes (written
 * here) then the payload, len bytes. STORE_OK, or STORE_EIO / STORE_EFULL (nothing of it
 * stays). */
int wal_append(wal_t *w, uint8_t *record, size_t len);

/* Takes back the last record appended (its commit failed): best effort. */
void wal_unappend(wal_t *w);

/* Flushes what was appended (fdatasync). STORE_OK, or STORE_EIO, also when a checkpoint failed
 * since: then the store's file can no longer be trusted past the last checkpoint. */
int wal_sync(wal_t *w);

/* After a commit that wal_sync made durable, on the writing thread: starts a checkpoint when
 * one is due and none is running (every checkpoint_ms, or sooner when the segment is large). */
void wal_committed(wal_t *w);

/* After a commit of the environment: every record appended so far is in it. A checkpoint
 * taken while records wait for a commit (wal_unpin after a spanning commit failed) names where
 * they begin, so that recovery replays them. */
void wal_mark_committed(wal_t *w);

/* Replays into txn the whole records appended since the last wal_mark_committed, read back from
 * the log: what a commit that did not go through (MDB_MAP_FULL) held. *replayed gets their
 * number. STORE_OK, STORE_EFULL (the map is still too small), or an I/O or LMDB error. */
int wal_uncommitted_replay(wal_t *w, MDB_txn *txn, const MDB_dbi *dbis, size_t n_dbis,
                           unsigned *replayed);

/* On the writing thread, no transaction of this process open but the pin: waits for a running
 * checkpoint, checkpoints synchronously and drops the pin, so that the map may be remapped.
 * wal_pin then pins again. STORE_OK or an I/O error (the pin is dropped in any case). */
int wal_unpin(wal_t *w);
int wal_pin(wal_t *w);

/* Records appended since the store opened, and checkpoints saved (figures). */
uint64_t wal_records(const wal_t *w);
uint64_t wal_checkpoints(const wal_t *w);

#endif
