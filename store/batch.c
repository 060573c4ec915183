/*
 * batch.c: the store's writes. A batch is one LMDB write transaction; every put is journaled so
 * that the batch can be replayed in a new transaction after the map grew (journal.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "record.h"
#include "store_internal.h"

void store_batch_free(store_batch_t *b)
{
    if (b->txn != NULL)
        mdb_txn_abort(b->txn);
    if (b->store != NULL)
        b->store->batch = NULL;
    journal_destroy(&b->journal);
    free(b->scratch);
    free(b);
}

/* Kills the batch: its transaction is dropped and every later call returns err. */
int store_batch_fail(store_batch_t *b, int err)
{
    if (b->txn != NULL) {
        mdb_txn_abort(b->txn);
        b->txn = NULL;
    }
    b->error = err;
    return err;
}

/* --- Batches --------------------------------------------------------------------------------- */

int store_batch_begin(store_t *s, int64_t committed_at, store_batch_t **out)
{
    if (out != NULL)
        *out = NULL;
    if (s == NULL || out == NULL || s->batch != NULL)
        return STORE_EINVAL;
    store_batch_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        return STORE_ENOMEM;
    b->committed_at = committed_at;
    b->journal = journal_new();
    if (b->journal == NULL) {
        free(b);
        return STORE_ENOMEM;
    }
    int rc = store_txn_begin(s, 0, &b->txn);
    if (rc == STORE_OK)
        rc = store_last_seq_read(s, b->txn, &b->last_seq);
    if (rc != STORE_OK) {
        store_batch_free(b);
        return rc;
    }
    b->store = s;
    s->batch = b;
    *out = b;
    return STORE_OK;
}

/* Checks that b can take another call: STORE_OK, or why not. */
static int store_batch_usable(const store_batch_t *b)
{
    if (b == NULL)
        return STORE_EINVAL;
    if (b->error != STORE_OK)
        return b->error;
    return b->store == NULL || b->txn == NULL ? STORE_EINVAL : STORE_OK;
}

/* After MDB_MAP_FULL: drops the transaction, grows the map and replays the journal in a new
 * transaction, as many times as needed. STORE_EFULL once the map cannot grow further. */
static int store_batch_regrow(store_batch_t *b)
{
    /* Growing remaps the file: a read transaction held by a foreach would point into the old
     * mapping, so a batch written from inside a foreach callback cannot grow the map. */
    if (b->store->in_callback > 0)
        return STORE_EINVAL;
    /* A hot copy reads the mapping from another thread: the batch waits for the copy's end. */
    if (b->store->copying)
        return STORE_EFULL;
    for (;;) {
        if (b->txn != NULL) {
            mdb_txn_abort(b->txn);
            b->txn = NULL;
        }
        int rc = store_map_grow(b->store);
        if (rc == STORE_OK)
            rc = store_txn_begin(b->store, 0, &b->txn);
        if (rc != STORE_OK)
            return rc;
        int mrc = journal_replay(b->journal, b->txn);
        if (mrc == MDB_MAP_FULL)
            continue;
        /* A replayed put can only fail as the original did not: nothing sane is left. */
        return mrc == MDB_SUCCESS ? STORE_OK : STORE_EIO;
    }
}

/* Journals and performs one put. Any error kills the batch. */
static int store_batch_put(store_batch_t *b, MDB_dbi dbi, const void *key, size_t key_len,
                           const void *value, size_t value_len, unsigned flags)
{
    MDB_val k = {key_len, (void *)key}, v = {value_len, (void *)value};
    int rc = journal_add(b->journal, dbi, &k, &v, flags);
    if (rc != STORE_OK)
        return store_batch_fail(b, rc);
    int mrc = mdb_put(b->txn, dbi, &k, &v, flags);
    if (mrc == MDB_MAP_FULL)
        rc = store_batch_regrow(b);
    else if (mrc == MDB_KEYEXIST)
        rc = STORE_EIO; /* the store checked first: the data disagrees with itself */
    else
        rc = store_error_from_mdb(mrc);
    return rc == STORE_OK ? STORE_OK : store_batch_fail(b, rc);
}

/* Makes b->scratch at least need bytes long, keeping its content. */
static int store_batch_scratch(store_batch_t *b, size_t need)
{
    if (need <= b->scratch_cap)
        return STORE_OK;
    size_t cap = b->scratch_cap ? b->scratch_cap : 64;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(b->scratch, cap);
    if (p == NULL)
        return STORE_ENOMEM;
    b->scratch = p;
    b->scratch_cap = cap;
    return STORE_OK;
}

/* Whether the filesystem of the data file has (almost) no room left. LMDB reports a short write
 * as EIO, and a short write to a regular file means the filesystem filled up. */
static bool store_fs_full(store_t *s)
{
    mdb_filehandle_t fd;
    struct statvfs st;
    if (mdb_env_get_fd(s->env, &fd) != MDB_SUCCESS || fstatvfs(fd, &st) != 0)
        return false;
    return (uint64_t)st.f_bavail * st.f_frsize < ((uint64_t)1 << 20);
}

int store_batch_commit(store_batch_t **pb)
{
    if (pb == NULL || *pb == NULL)
        return STORE_EINVAL;
    store_batch_t *b = *pb;
    *pb = NULL;
    int rc = store_batch_usable(b);
    if (rc == STORE_OK && b->appended) {
        uint8_t value[8];
        record_u64_encode(value, b->last_seq);
        rc = store_batch_put(b, b->store->meta, "last_seq", 8, value, sizeof value, 0);
    }
    while (rc == STORE_OK) {
        int mrc = mdb_txn_commit(b->txn);
        b->txn = NULL; /* the commit frees the transaction, even when it fails */
        if (mrc != MDB_MAP_FULL) {
            if (mrc == ENOSPC || mrc == EDQUOT || (mrc == EIO && store_fs_full(b->store)))
                rc = STORE_EFULL;
            else
                rc = mrc == MDB_SUCCESS ? STORE_OK
                     : store_failed(b->store, mrc == MDB_PANIC ? STORE_EPANIC : STORE_EIO);
            break;
        }
        rc = store_batch_regrow(b);
    }
    store_batch_free(b);
    return rc;
}

void store_batch_abort(store_batch_t **pb)
{
    if (pb == NULL || *pb == NULL)
        return;
    store_batch_free(*pb);
    *pb = NULL;
}

int store_batch_dedupe_find(store_batch_t *b, const char *partner_id, const char *event_id,
                            uint64_t *seq)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    return store_dedupe_read(b->txn, b->store->dedupe, partner_id, event_id, seq);
}

int store_batch_pathway_get(store_batch_t *b, const char *beneficiary_id,
                            Parcours__V1__Pathway **out)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    return store_pathway_read(b->txn, b->store->pathways, beneficiary_id, out);
}

static int store_event_check(const store_event_t *e)
{
    if (e == NULL || (e->raw == NULL && e->raw_len > 0) || e->pathway == NULL ||
        (e->recipients == NULL && e->n_recipients > 0) || (unsigned)e->type > UINT16_MAX ||
        store_id_len(e->partner_id) == 0 || store_id_len(e->event_id) == 0 ||
        store_id_len(e->beneficiary_id) == 0 || e->raw_len > UINT32_MAX)
        return STORE_EINVAL;
    for (size_t i = 0; i < e->n_recipients; i++)
        if (store_id_len(e->recipients[i]) == 0)
            return STORE_EINVAL;
    return STORE_OK;
}

/* Builds the beneficiary's new pathway record in b->scratch: the new packed pathway, the old
 * record's seqs and seq. Reads only: nothing is written. *len is the record's length. */
static int store_pathway_build(store_batch_t *b, const store_event_t *e, uint64_t seq, size_t *len)
{
    size_t id_len = strlen(e->beneficiary_id);
    MDB_val key = {id_len, (void *)e->beneficiary_id}, value;
    record_pathway_t old = {0};
    int rc = mdb_get(b->txn, b->store->pathways, &key, &value);
    if (rc == MDB_SUCCESS)
        rc = record_pathway_decode(value.mv_data, value.mv_size, &old);
    else if (rc == MDB_NOTFOUND)
        rc = STORE_OK;
    else
        return store_error_from_mdb(rc);
    if (rc != STORE_OK)
        return rc;
    size_t packed_len;
    rc = record_pathway_size(e->pathway, old.n_seqs + 1, &packed_len, len);
    if (rc != STORE_OK)
        return rc;
    /* old points into the map; b->scratch is ours, so the copy below is safe. */
    if (store_batch_scratch(b, *len) != STORE_OK)
        return STORE_ENOMEM;
    record_pathway_encode(b->scratch, e->pathway, packed_len, &old, seq);
    return STORE_OK;
}

/* Appends the outbox entries of an event: one per distinct recipient. */
static int store_outbox_append(store_batch_t *b, const store_event_t *e, uint64_t seq)
{
    uint8_t value[8];
    record_u64_encode(value, seq);
    for (size_t i = 0; i < e->n_recipients; i++) {
        const char *partner_id = e->recipients[i];
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(e->recipients[j], partner_id) == 0;
        if (seen)
            continue;
        size_t partner_len = strlen(partner_id);
        uint64_t last;
        int rc = store_outbox_read_last(b->txn, b->store->outbox, partner_id, partner_len, &last);
        if (rc != STORE_OK)
            return store_batch_fail(b, rc);
        uint8_t key[RECORD_KEY_MAX];
        size_t key_len = record_outbox_key(key, partner_id, partner_len, last + 1);
        /* Not MDB_APPEND: another partner's keys may sort after this one. */
        rc = store_batch_put(b, b->store->outbox, key, key_len, value, sizeof value,
                             MDB_NOOVERWRITE);
        if (rc != STORE_OK)
            return rc;
    }
    return STORE_OK;
}

int store_batch_append(store_batch_t *b, const store_event_t *e, uint64_t *seq_out)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (store_event_check(e) != STORE_OK)
        return STORE_EINVAL;
    /* Everything that can refuse the event is read first, so a refusal writes nothing. */
    uint64_t old_seq;
    rc = store_dedupe_read(b->txn, b->store->dedupe, e->partner_id, e->event_id, &old_seq);
    if (rc == STORE_OK)
        return STORE_EEXIST;
    if (rc != STORE_ENOTFOUND)
        return rc;
    uint64_t seq = b->last_seq + 1;
    size_t record_len;
    rc = store_pathway_build(b, e, seq, &record_len);
    if (rc != STORE_OK)
        return rc;

    /* The log value is built after the pathway record in the same scratch buffer. */
    size_t log_len = record_log_size(e->raw_len);
    if (store_batch_scratch(b, record_len + log_len) != STORE_OK)
        return STORE_ENOMEM;
    uint8_t *log = b->scratch + record_len;
    record_log_encode(log, e->type, e->occurred_at, b->committed_at, e->raw, e->raw_len);

    store_t *s = b->store;
    rc = store_batch_put(b, s->log, &seq, sizeof seq, log, log_len, MDB_APPEND);
    if (rc != STORE_OK)
        return rc;
    b->last_seq = seq;
    b->appended = true;
    size_t partner_len = strlen(e->partner_id);
    uint8_t key[RECORD_KEY_MAX], value[8];
    size_t key_len =
        record_dedupe_key(key, e->partner_id, partner_len, e->event_id, strlen(e->event_id));
    record_u64_encode(value, seq);
    rc = store_batch_put(b, s->dedupe, key, key_len, value, sizeof value, MDB_NOOVERWRITE);
    if (rc == STORE_OK)
        rc = store_batch_put(b, s->pathways, e->beneficiary_id, strlen(e->beneficiary_id),
                             b->scratch, record_len, 0);
    if (rc == STORE_OK)
        rc = store_outbox_append(b, e, seq);
    if (rc != STORE_OK)
        return rc;
    if (seq_out != NULL)
        *seq_out = seq;
    return STORE_OK;
}

int store_batch_cursor_set(store_batch_t *b, const char *partner_id, uint64_t up_to)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    size_t len = store_id_len(partner_id);
    if (len == 0)
        return STORE_EINVAL;
    uint8_t value[8];
    record_u64_encode(value, up_to);
    return store_batch_put(b, b->store->cursors, partner_id, len, value, sizeof value, 0);
}
