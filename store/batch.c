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
    free(b->tails);
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

/* Journals and performs one put: an LMDB code, or -1 when the journal ran out of memory. */
static int store_batch_write(store_batch_t *b, MDB_dbi dbi, MDB_val *k, MDB_val *v,
                             unsigned flags)
{
    b->read_valid = false; /* a write may move the page a value read before points into */
    if (journal_add(b->journal, dbi, k, v, flags) != STORE_OK)
        return -1;
    return mdb_put(b->txn, dbi, k, v, flags);
}

/* One put. Any error kills the batch. */
static int store_batch_put(store_batch_t *b, MDB_dbi dbi, const void *key, size_t key_len,
                           const void *value, size_t value_len, unsigned flags)
{
    MDB_val k = {key_len, (void *)key}, v = {value_len, (void *)value};
    int mrc = store_batch_write(b, dbi, &k, &v, flags);
    int rc;
    if (mrc == -1)
        rc = STORE_ENOMEM;
    else if (mrc == MDB_MAP_FULL)
        rc = store_batch_regrow(b);
    else if (mrc == MDB_KEYEXIST)
        rc = STORE_EIO; /* the store checked first: the data disagrees with itself */
    else
        rc = store_error_from_mdb(mrc);
    return rc == STORE_OK ? STORE_OK : store_batch_fail(b, rc);
}

/* As store_batch_put with MDB_NOOVERWRITE, but a key already there is an answer, not a fault:
 * STORE_EEXIST, with nothing written (nor journaled) and the batch alive. */
static int store_batch_put_new(store_batch_t *b, MDB_dbi dbi, const void *key, size_t key_len,
                               const void *value, size_t value_len)
{
    MDB_val k = {key_len, (void *)key}, v = {value_len, (void *)value};
    int mrc = store_batch_write(b, dbi, &k, &v, MDB_NOOVERWRITE);
    if (mrc == MDB_KEYEXIST) {
        journal_drop_last(b->journal);
        return STORE_EEXIST;
    }
    int rc = mrc == -1              ? STORE_ENOMEM
             : mrc == MDB_MAP_FULL ? store_batch_regrow(b)
                                   : store_error_from_mdb(mrc);
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
    if (rc == STORE_OK && b->store != NULL)
        b->store->generation++;
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
    size_t len = store_id_len(beneficiary_id);
    if (len == 0 || out == NULL)
        return STORE_EINVAL;
    MDB_val key = {len, (void *)beneficiary_id}, value;
    int mrc = mdb_get(b->txn, b->store->pathways, &key, &value);
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        return store_error_from_mdb(mrc);
    memcpy(b->read_id, beneficiary_id, len + 1);
    b->read_value = mrc == MDB_SUCCESS ? value : (MDB_val){0, NULL};
    b->read_valid = true;
    if (mrc == MDB_NOTFOUND)
        return STORE_ENOTFOUND;
    return record_pathway_unpack(value.mv_data, value.mv_size, out);
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
    int rc;
    if (b->read_valid && strcmp(b->read_id, e->beneficiary_id) == 0) {
        value = b->read_value; /* what the rules were given, read once */
        rc = value.mv_data != NULL ? MDB_SUCCESS : MDB_NOTFOUND;
    } else {
        rc = mdb_get(b->txn, b->store->pathways, &key, &value);
    }
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

/* FNV-1a of a partner id: the slot its outbox tail starts looking from. */
static size_t tail_hash(const char *id, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)id[i]) * UINT64_C(0x100000001b3);
    return (size_t)h;
}

static struct outbox_tail *tail_slot(struct outbox_tail *tails, size_t cap, const char *id,
                                     size_t len)
{
    size_t i = tail_hash(id, len) & (cap - 1);
    while (tails[i].partner_id[0] != '\0' && strcmp(tails[i].partner_id, id) != 0)
        i = (i + 1) & (cap - 1);
    return &tails[i];
}

/* The batch's tail of partner_id's outbox, read from the tree the first time; NULL with *rc
 * set when it cannot be read or remembered. */
static struct outbox_tail *store_outbox_tail(store_batch_t *b, const char *partner_id,
                                             size_t partner_len, int *rc)
{
    if (b->tails_len + 1 > b->tails_cap / 2) { /* at most half full: probes stay short */
        size_t cap = b->tails_cap ? 2 * b->tails_cap : 64;
        struct outbox_tail *tails = calloc(cap, sizeof(*tails));
        if (tails == NULL) {
            *rc = STORE_ENOMEM;
            return NULL;
        }
        for (size_t i = 0; i < b->tails_cap; i++)
            if (b->tails[i].partner_id[0] != '\0')
                *tail_slot(tails, cap, b->tails[i].partner_id, strlen(b->tails[i].partner_id)) =
                    b->tails[i];
        free(b->tails);
        b->tails = tails;
        b->tails_cap = cap;
    }
    struct outbox_tail *t = tail_slot(b->tails, b->tails_cap, partner_id, partner_len);
    if (t->partner_id[0] != '\0')
        return t;
    uint64_t last;
    *rc = store_outbox_read_last(b->txn, b->store->outbox, partner_id, partner_len, &last);
    if (*rc != STORE_OK)
        return NULL;
    memcpy(t->partner_id, partner_id, partner_len + 1);
    t->last = last;
    t->last_event = 0;
    b->tails_len++;
    return t;
}

/* Appends the outbox entries of an event: one per distinct recipient. */
static int store_outbox_append(store_batch_t *b, const store_event_t *e, uint64_t seq)
{
    uint8_t value[8];
    record_u64_encode(value, seq);
    for (size_t i = 0; i < e->n_recipients; i++) {
        const char *partner_id = e->recipients[i];
        size_t partner_len = strlen(partner_id);
        int rc = STORE_OK;
        struct outbox_tail *t = store_outbox_tail(b, partner_id, partner_len, &rc);
        if (t == NULL)
            return store_batch_fail(b, rc);
        if (t->last_event == seq)
            continue; /* named twice: one entry */
        uint8_t key[RECORD_KEY_MAX];
        size_t key_len = record_outbox_key(key, partner_id, partner_len, t->last + 1);
        /* Not MDB_APPEND: another partner's keys may sort after this one. */
        rc = store_batch_put(b, b->store->outbox, key, key_len, value, sizeof value,
                             MDB_NOOVERWRITE);
        if (rc != STORE_OK)
            return rc;
        t->last++;
        t->last_event = seq;
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
    /* The new pathway record is built from the old one before any put (a put may move the
     * page the old one is read from), then the dedupe record goes in first: it is also the
     * check, so a duplicate writes nothing, and the dedupe tree is searched once. */
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
    size_t partner_len = strlen(e->partner_id);
    uint8_t key[RECORD_KEY_MAX], value[8];
    size_t key_len =
        record_dedupe_key(key, e->partner_id, partner_len, e->event_id, strlen(e->event_id));
    record_u64_encode(value, seq);
    rc = store_batch_put_new(b, s->dedupe, key, key_len, value, sizeof value);
    if (rc != STORE_OK)
        return rc;
    rc = store_batch_put(b, s->log, &seq, sizeof seq, log, log_len, MDB_APPEND);
    if (rc != STORE_OK)
        return rc;
    b->last_seq = seq;
    b->appended = true;
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
