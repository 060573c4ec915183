/*
 * store_internal.h: what the files of the store share, and nothing outside store/ may use: the
 * structures behind store.h's handles and the helpers every part needs.
 *   store.c  the environment: opening, closing, figures, the stream id, hot copies
 *   batch.c  writing: batches, their journal replay when the map grows, commits
 *   read.c   reading: one read transaction per call, and the readers batches share
 *   upgrade.c  bringing a store of an older schema to this one, as it is opened
 *   deadlines.c  the index of the pathways' deadlines by due time
 *   stats.c  the statistics' counters
 *   transfers.c  the moves from other territories a registration may claim
 */
#ifndef PARCOURS_STORE_INTERNAL_H
#define PARCOURS_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "record.h"
#include "store.h"
#include "vault.h"
#include "wal.h"

#define STORE_DB_COUNT              12
#define STORE_DEFAULT_INITIAL       ((size_t)64 << 20)
#define STORE_DEFAULT_MAX           ((size_t)16 << 30)
#define STORE_DEFAULT_COPY_HEADROOM ((size_t)1 << 30)
#define STORE_DEFAULT_COMMIT_MS     5

struct store {
    MDB_env *env;
    MDB_dbi log, dedupe, pathways, outbox, cursors, shred, notices, acks, meta;
    MDB_dbi due;         /* deadlines by due time: due_at (BE), pathway key, kind -> since */
    MDB_dbi stats;       /* counters of the statistics, by their key (stats.c) */
    MDB_dbi transfers;   /* moves to claim here: keyed hash of the reference -> transfers.c */
    vault_t *vault;      /* the per-person keys (vault.h) */
    uint32_t vault_next; /* meta "vault_next" as last committed: the next slot to hand out */
    uint32_t *shredded;  /* slots zeroed after a commit, whose shred records a later batch drops */
    size_t n_shredded, shredded_cap;
    uint64_t notices_pending; /* Erasure notices not yet acknowledged by all their partners */
    bool sealed_now;          /* the upgrade at open sealed the store: rebuild the file */
    size_t max_map_size;
    unsigned map_grows;
    bool durable;
    store_batch_t *batch; /* the open batch, NULL when none */
    /* Held shared by every read transaction, exclusively while the map is remapped (LMDB's
     * mdb_env_set_mapsize needs no transaction open in the process): reads may then run on any
     * thread beside the writing one (store.h, "Threads"). Writers are preferred, so that
     * growing the map never waits behind a stream of reads. */
    pthread_rwlock_t map_lock;
    bool copying;         /* a hot copy reads the map from another thread: no remapping */
    size_t copy_headroom; /* store_options_t's */
    uint64_t stream_id;   /* meta "stream_id": names this incarnation of the partner streams */
    bool unusable;        /* LMDB refuses every transaction (MDB_PANIC); atomic */
    uint64_t generation;  /* batches committed since open (store_generation); atomic */
    store_unusable_fn on_unusable;
    void *on_unusable_ctx;
    /* Durable stores run in WAL mode (wal.h): a batch is durable once its record is flushed. */
    wal_t *wal;
    MDB_dbi dbis[STORE_DB_COUNT]; /* the databases in store.c's order: a record's indexes */
    uint8_t *wal_buf;             /* a batch's record, encoded */
    size_t wal_buf_cap;
    unsigned wal_replayed; /* records wal_recover replayed at open */
    uint64_t durable_seq;  /* the last seq of a batch made durable; atomic (store_durable_seq) */
    /* The spanning commit (store.h, store_batch_defer): the write transaction that deferred
     * batches join as nested ones, until it is committed. Only its thread touches these. */
    MDB_txn *span;
    int64_t span_began_ms; /* monotonic */
    uint64_t span_seq;     /* the last seq of a batch in it (durable_seq when it opened) */
    unsigned span_batches; /* batches committed into it */
    unsigned span_ms;      /* store_options_t.commit_ms */
    bool span_stuck;       /* its commit met a full file system: tried again when due */
    uint64_t span_pages;   /* what the batches in it may add to the file, in pages (a bound) */
    /* Room allocated ahead in data.mdb for a span's commit (store_span_room): spans are opened
     * only while it holds. */
    bool span_room;
    uint64_t span_room_end; /* bytes of data.mdb allocated by it */
    int64_t span_room_tried_ms;
};

/* Bytes data.mdb keeps allocated past what it uses while commits span batches, and half of it
 * the most a span may add (by the bound of store_batch_t.pages). */
#define STORE_SPAN_ROOM ((uint64_t)64 << 20)
#define STORE_SPAN_PAGE 4096 /* the page the bound counts in (LMDB's on Linux x86_64) */

/* After a commit: allocates STORE_SPAN_ROOM ahead when less than half of it is left. */
void store_span_room(store_t *s);

/* Commits the spanning transaction, if one is open (store_span_commit). */
int store_span_end(store_t *s);

/* The store whose span this thread opened (the writing thread's), NULL on every other thread:
 * only that thread ever looks at s->span. */
extern _Thread_local const store_t *store_writer;

struct store_batch {
    store_t *store; /* NULL once the store was closed under the batch */
    MDB_txn *txn;   /* NULL once the batch failed */
    int error;      /* STORE_OK, or why the batch is dead */
    int64_t committed_at;
    uint64_t last_seq;  /* the last seq in the log, this batch's appends included */
    bool appended;      /* meta "last_seq" must be rewritten at commit */
    journal_t *journal; /* every put of the batch, replayed after the map grew */
    uint8_t *scratch;   /* where a value is built before its put */
    size_t scratch_cap;
    /* The pathway store_batch_pathway_get read last, unsealed into read_plain, kept until the
     * batch's next put, so that the append that follows builds the new record from it instead
     * of searching the tree and unsealing again. */
    bool read_valid;
    char read_id[STORE_ID_MAX + 1];
    bool read_found;                   /* false: the beneficiary had no pathway */
    uint8_t read_key[VAULT_HASH_SIZE]; /* its LMDB key (the keyed hash), computed once */
    uint32_t read_slot;                /* its vault slot */
    uint8_t read_flags;                /* its record's flags */
    int64_t read_last_contact;         /* its retention clock */
    uint8_t *read_plain;               /* its unsealed record (format 1) */
    size_t read_plain_len, read_plain_cap;
    uint8_t *sealed; /* where a sealed value is built */
    size_t sealed_cap;
    uint32_t vault_next;  /* the next slot to hand out, this batch's takes included */
    size_t shred_dropped; /* s->shredded records this batch deletes */
    uint32_t *shred;      /* slots this batch's destructions leave to zero once committed */
    size_t n_shred, shred_cap;
    bool deferred;          /* store_batch_defer: its LMDB commit may wait */
    uint64_t pages;         /* a bound on the pages its writes may add to the file */
    uint64_t notices_added; /* Erasure notices this batch wrote */
    int64_t notices_removed;
    struct record_told *told; /* an event's recipients with their partner_seqs */
    size_t told_cap;
    /* The tail of each outbox the batch appended to (open addressing on the partner id), so
     * that a partner told of many events of a batch has its tail searched once per batch. */
    struct outbox_tail *tails;
    size_t tails_cap, tails_len; /* tails_cap a power of two, or 0 */
};

/* The last partner_seq of one partner's outbox within a batch, and the last event (seq) given
 * an entry in it, which tells a recipient named twice for one event. */
struct outbox_tail {
    char partner_id[STORE_ID_MAX + 1]; /* "" = a free slot */
    uint64_t last;
    uint64_t last_event;
};

/* Length of id when it is a valid id (1..STORE_ID_MAX bytes), else 0. */
size_t store_id_len(const char *id);

/* The key after key (VAULT_HASH_SIZE bytes, big-endian), in place; false past the last one:
 * where a walk in slices goes on. */
bool store_key_next(uint8_t key[VAULT_HASH_SIZE]);

/* Translates an LMDB or errno code into a STORE_E* code. */
int store_error_from_mdb(int rc);

/* rc, or STORE_EPANIC when the failure behind rc left the environment unusable (then the
 * store_on_unusable callback runs, the first time). */
int store_failed(store_t *s, int rc);

/* Begins a transaction, adopting a map size another process set (MDB_MAP_RESIZED). */
int store_txn_begin(store_t *s, unsigned flags, MDB_txn **txn);

/* Begins a read transaction under the map lock (shared; only the outermost read of a thread
 * takes it, so reads nest); store_read_end aborts it and lets the lock go. */
int store_read_begin(store_t *s, MDB_txn **txn);
void store_read_end(store_t *s, MDB_txn *txn);

/* Whether this thread has a read transaction open: then it may not remap (a batch written from
 * inside a foreach callback cannot grow the map). */
bool store_reading(void);

/* Doubles the map, up to max_map_size, under the map lock held exclusively: it waits for the
 * reads of other threads to end. This thread may have no read open (store_reading). */
int store_map_grow(store_t *s);

/* Brings a store of schema `from` to STORE_SCHEMA_VERSION inside txn (upgrade.c), the schema
 * record included. STORE_ESCHEMA for a schema it cannot upgrade; STORE_EFULL when the map must
 * grow first; STORE_ECORRUPT, STORE_ENOMEM, STORE_EIO. */
int store_upgrade(store_t *s, MDB_txn *txn, uint32_t from);

/* Makes *buf at least need bytes long (its content kept); STORE_OK or STORE_ENOMEM. */
int store_grow(uint8_t **buf, size_t *cap, size_t need);

/* Frees a buffer that held personal bytes in clear (cap bytes), zeroing it first. Each read
 * unseals into a buffer of its own, so that reads may run on several threads and no person's
 * bytes stay in a buffer shared by the store. */
void store_plain_free(void *p, size_t cap);

/* The LMDB key of a beneficiary's pathway: the keyed hash of the id. */
void store_pathway_key(const store_t *s, const char *beneficiary_id, size_t len,
                       uint8_t key[VAULT_HASH_SIZE]);

/* Unseals a pathway value (format 2) into *buf (grown as needed); *plain_len is the unsealed
 * record's (format 1) length and *r its header. */
int store_pathway_unseal(const store_t *s, const uint8_t key[VAULT_HASH_SIZE], const MDB_val *value,
                         uint8_t **buf, size_t *cap, size_t *plain_len, struct record_pathway2 *r);

/* Decodes a log value into *entry, unsealing into *buf (grown as needed): entry->raw points into
 * *buf. With told non-NULL, *told and *n_told give the body's recipients (record_body_next). */
int store_log_unseal(const store_t *s, const MDB_val *key, const MDB_val *value, uint8_t **buf,
                     size_t *cap, store_log_entry_t *entry, const uint8_t **told, size_t *n_told,
                     const uint8_t **told_end);

/* Walks the partners told of the log entry at seq in txn (unsealed into a buffer of its own):
 * fn returns 0 to go on, > 0 to stop, < 0 a STORE_E* error that ends the walk. *entry gets the
 * entry's kind, type and dates (raw NULL). STORE_ENOTFOUND when there is no such seq. */
typedef int (*store_told_walk_fn)(const struct record_told *t, void *ctx);
int store_log_told_walk(const store_t *s, MDB_txn *txn, uint64_t seq, store_told_walk_fn fn,
                        void *ctx, store_log_entry_t *entry);

/* store_log_told in txn (the batch's, for store_batch_log_told): fn's STORE_E* errors end the
 * walk and are returned. */
int store_log_told_in(const store_t *s, MDB_txn *txn, uint64_t seq, store_told_fn fn, void *ctx);

/* Zeroes the slots the shred database lists, and drops them, in txn (at open). */
int store_shred_recover(store_t *s, MDB_txn *txn);

/* Readers inside a transaction, shared by read.c and batch.c (see read.c). */
int store_pathway_read(store_t *s, MDB_txn *txn, const char *beneficiary_id,
                       Parcours__V1__Pathway **out);
int store_dedupe_read(MDB_txn *txn, MDB_dbi dbi, const char *partner_id, const char *event_id,
                      uint64_t *seq);
/* The last partner_seq of partner_id's outbox whose seq is at most max_seq (UINT64_MAX: the
 * last), 0 when none. */
int store_outbox_read_last(MDB_txn *txn, MDB_dbi dbi, const char *partner_id, size_t partner_len,
                           uint64_t max_seq, uint64_t *last);
int store_last_seq_read(store_t *s, MDB_txn *txn, uint64_t *last_seq);

/* STORE_OK when the batch may be written to, else why not. */
int store_batch_usable(const store_batch_t *b);

/* One put, one delete (absent is fine), journaled; any error kills the batch (batch.c). */
int store_batch_put(store_batch_t *b, MDB_dbi dbi, const void *key, size_t key_len,
                    const void *value, size_t value_len, unsigned flags);
int store_batch_del(store_batch_t *b, MDB_dbi dbi, const void *key, size_t key_len);

/* The meta record that says every pathway's deadlines are in the index, holding the fingerprint
 * of the settings they were computed under (store_deadlines_indexed); none in a new store, nor
 * in one written before the index. */
#define STORE_DEADLINES_INDEXED_KEY     "deadlines_indexed"
#define STORE_DEADLINES_INDEXED_KEY_LEN 17

/* Moves the deadlines of the pathway stored under key in the index from old to d (deadlines.c). */
int store_deadlines_replace(store_batch_t *b, const uint8_t key[VAULT_HASH_SIZE],
                            const store_deadline_t *old, size_t n_old, const store_deadline_t *d,
                            size_t n);

/* Frees a batch (aborting its transaction) and detaches it from its store. */
void store_batch_free(store_batch_t *b);

/* Kills the batch: its transaction is dropped and every later call returns err. */
int store_batch_fail(store_batch_t *b, int err);

#endif
