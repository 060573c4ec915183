/*
 * store_internal.h: what the files of the store share, and nothing outside store/ may use: the
 * structures behind store.h's handles and the helpers every part needs.
 *   store.c  the environment: opening, closing, figures, the stream id, hot copies
 *   batch.c  writing: batches, their journal replay when the map grows, commits
 *   read.c   reading: one read transaction per call, and the readers batches share
 *   upgrade.c  bringing a store of an older schema to this one, as it is opened
 */
#ifndef PARCOURS_STORE_INTERNAL_H
#define PARCOURS_STORE_INTERNAL_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "store.h"

#define STORE_DB_COUNT              6
#define STORE_DEFAULT_INITIAL       ((size_t)64 << 20)
#define STORE_DEFAULT_MAX           ((size_t)16 << 30)
#define STORE_DEFAULT_COPY_HEADROOM ((size_t)1 << 30)

struct store {
    MDB_env *env;
    MDB_dbi log, dedupe, pathways, outbox, cursors, meta;
    size_t max_map_size;
    unsigned map_grows;
    bool durable;
    store_batch_t *batch; /* the open batch, NULL when none */
    unsigned in_callback; /* foreach calls running a caller's callback in a read transaction */
    bool copying;         /* a hot copy reads the map from another thread: no remapping */
    size_t copy_headroom; /* store_options_t's */
    uint64_t stream_id;   /* meta "stream_id": names this incarnation of the partner streams */
    bool unusable;        /* LMDB refuses every transaction (MDB_PANIC) */
    uint64_t generation;  /* batches committed since open (store_generation) */
    store_unusable_fn on_unusable;
    void *on_unusable_ctx;
};

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
    /* The pathway record store_batch_pathway_get read last, kept until the batch's next put
     * (LMDB keeps a value valid until its transaction writes), so that the append that follows
     * builds the new record from it instead of searching the tree again. */
    bool read_valid;
    char read_id[STORE_ID_MAX + 1];
    MDB_val read_value; /* mv_data NULL: the beneficiary had no pathway */
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

/* Translates an LMDB or errno code into a STORE_E* code. */
int store_error_from_mdb(int rc);

/* rc, or STORE_EPANIC when the failure behind rc left the environment unusable (then the
 * store_on_unusable callback runs, the first time). */
int store_failed(store_t *s, int rc);

/* Begins a transaction, adopting a map size another process set (MDB_MAP_RESIZED). */
int store_txn_begin(store_t *s, unsigned flags, MDB_txn **txn);

/* Doubles the map, up to max_map_size. No transaction of this process may be open. */
int store_map_grow(store_t *s);

/* Brings a store of schema `from` to STORE_SCHEMA_VERSION inside txn (upgrade.c), the schema
 * record included. STORE_ESCHEMA for a schema it cannot upgrade; STORE_EFULL when the map must
 * grow first; STORE_ECORRUPT, STORE_ENOMEM, STORE_EIO. */
int store_upgrade(store_t *s, MDB_txn *txn, uint32_t from);

/* Readers inside a transaction, shared by read.c and batch.c (see read.c). */
int store_pathway_read(MDB_txn *txn, MDB_dbi dbi, const char *beneficiary_id,
                       Parcours__V1__Pathway **out);
int store_dedupe_read(MDB_txn *txn, MDB_dbi dbi, const char *partner_id, const char *event_id,
                      uint64_t *seq);
int store_outbox_read_last(MDB_txn *txn, MDB_dbi dbi, const char *partner_id, size_t partner_len,
                           uint64_t *last);
int store_last_seq_read(store_t *s, MDB_txn *txn, uint64_t *last_seq);

/* Frees a batch (aborting its transaction) and detaches it from its store. */
void store_batch_free(store_batch_t *b);

/* Kills the batch: its transaction is dropped and every later call returns err. */
int store_batch_fail(store_batch_t *b, int err);

#endif
