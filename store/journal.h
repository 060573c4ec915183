/*
 * journal.h: the journal of a batch's puts, so that the batch can be replayed after the map grew.
 * Internal to store/, not installed: only the store's own files include it.
 *
 * Map growth: a batch keeps a journal of every put it made. When LMDB answers MDB_MAP_FULL (to a
 * put or to the commit), the transaction is aborted, the map doubled, and the journal replayed
 * in a new transaction. Replaying is correct because the store has one writer: every read the
 * batch made saw the same base state plus its own earlier writes, so the same puts follow.
 *
 * The journal only records and replays; aborting, growing the map and beginning the new
 * transaction are the store's (batch.c, store_batch_regrow).
 */
#ifndef PARCOURS_STORE_JOURNAL_H
#define PARCOURS_STORE_JOURNAL_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

typedef struct journal journal_t;

/* In a write's flags: the write is a delete of the key (the value is ignored). Above every
 * MDB_* put flag. */
#define JOURNAL_DELETE 0x80000000u

/* Returns a new empty journal the caller owns (journal_destroy), or NULL when out of memory. */
journal_t *journal_new(void);

/* Frees the journal and sets *j to NULL. Takes NULL and *j == NULL. */
void journal_destroy(journal_t **j);

/*
 * Copies one put (its database, key, value and put flags) to the end of the journal; nothing
 * of key or value is retained. STORE_OK, or STORE_ENOMEM (the journal is unchanged).
 */
int journal_add(journal_t *j, MDB_dbi dbi, const MDB_val *key, const MDB_val *value,
                unsigned flags);

/* Forgets the last write added (a put that LMDB refused without writing, MDB_KEYEXIST). */
void journal_drop_last(journal_t *j);

/* Puts every journaled write into txn, in order. Returns an LMDB code: MDB_SUCCESS, or the
 * first put's error (MDB_MAP_FULL when the map is still too small). */
int journal_replay(const journal_t *j, MDB_txn *txn);

/*
 * The journal as bytes, for the write-ahead log (wal.h): for each write, in order, the index of
 * its database in dbis (1 byte), its flags (4), key length (4), value length (4), key, value.
 * *buf (grown as needed, *cap its size, the caller's) gets them after its first head bytes,
 * left for the caller (a record's header); *len is their length, head excluded. STORE_OK,
 * STORE_ENOMEM, or STORE_EINVAL for a write on a database not in dbis.
 */
int journal_encode(const journal_t *j, const MDB_dbi *dbis, size_t n_dbis, size_t head,
                   uint8_t **buf, size_t *cap, size_t *len);

/* Performs in txn, in order, the writes journal_encode wrote (len bytes at p), each database
 * named by its index in dbis. MDB_SUCCESS, MDB_CORRUPTED when the bytes are not such writes, or
 * the first write's LMDB error. */
int journal_replay_encoded(const uint8_t *p, size_t len, MDB_txn *txn, const MDB_dbi *dbis,
                           size_t n_dbis);

#endif
