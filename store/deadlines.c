/*
 * deadlines.c: the index of the pathways' deadlines by due time (store.h, "Deadlines").
 *
 * One database, due, written in the batch of the event that changes it: due_at (8 bytes
 * big-endian, so that keys sort by time), the pathway's key (the keyed hash of the id), the
 * kind (1 byte) -> since (8 bytes little-endian). The caller says what the pathway's deadlines
 * were and are (store_event_t): an entry is deleted or added only when it changed, so that no
 * tree keyed by the pathway is read or written for it (at a million pathways, one such leaf
 * per event cost a third of the rate).
 * The index holds no identifier in clear: the id is unsealed from the pathway when a deadline
 * is taken or listed. A timer reads the due tree from its start up to now: it never scans
 * the pathways.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define DUE_KEY_LEN (8 + VAULT_HASH_SIZE + 1)

static void be64_encode(uint8_t *out, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t be64_decode(const uint8_t *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

static void due_key(uint8_t out[DUE_KEY_LEN], const uint8_t key[VAULT_HASH_SIZE],
                    const store_deadline_t *d)
{
    be64_encode(out, (uint64_t)d->due_at);
    memcpy(out + 8, key, VAULT_HASH_SIZE);
    out[8 + VAULT_HASH_SIZE] = (uint8_t)d->kind;
}

static bool deadline_same(const store_deadline_t *x, const store_deadline_t *y)
{
    return x->kind == y->kind && x->due_at == y->due_at && x->since == y->since;
}

static bool deadline_in(const store_deadline_t *x, const store_deadline_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (deadline_same(x, &list[i]))
            return true;
    return false;
}

int store_deadlines_replace(store_batch_t *b, const uint8_t key[VAULT_HASH_SIZE],
                            const store_deadline_t *old, size_t n_old, const store_deadline_t *d,
                            size_t n)
{
    store_t *s = b->store;
    if (n > STORE_DEADLINES_MAX || n_old > STORE_DEADLINES_MAX || (n > 0 && d == NULL) ||
        (n_old > 0 && old == NULL))
        return store_batch_fail(b, STORE_EINVAL);
    for (size_t i = 0; i < n; i++)
        if (d[i].due_at < 0 || d[i].kind <= 0 || d[i].kind > 255)
            return store_batch_fail(b, STORE_EINVAL);
    /* What changes only: most events move no deadline (the inactivity one is counted in days),
     * and then nothing is read nor written. */
    uint8_t dk[DUE_KEY_LEN], since[8];
    int rc = STORE_OK;
    for (size_t i = 0; rc == STORE_OK && i < n_old; i++) {
        if (deadline_in(&old[i], d, n) || old[i].kind <= 0 || old[i].kind > 255 ||
            old[i].due_at < 0)
            continue;
        due_key(dk, key, &old[i]);
        rc = store_batch_del(b, s->due, dk, sizeof dk);
    }
    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        if (deadline_in(&d[i], old, n_old))
            continue;
        due_key(dk, key, &d[i]);
        record_u64_encode(since, (uint64_t)d[i].since);
        rc = store_batch_put(b, s->due, dk, sizeof dk, since, sizeof since, 0);
    }
    return rc;
}

int store_batch_deadlines_set(store_batch_t *b, const char *beneficiary_id,
                              const store_deadline_t *old, size_t n_old, const store_deadline_t *d,
                              size_t n)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    size_t len = store_id_len(beneficiary_id);
    if (len == 0 || (n > 0 && d == NULL) || (n_old > 0 && old == NULL))
        return STORE_EINVAL;
    uint8_t key[VAULT_HASH_SIZE];
    store_pathway_key(b->store, beneficiary_id, len, key);
    MDB_val k = {VAULT_HASH_SIZE, key}, value;
    int mrc = mdb_get(b->txn, b->store->pathways, &k, &value);
    if (mrc == MDB_NOTFOUND)
        return STORE_ENOTFOUND;
    if (mrc != MDB_SUCCESS)
        return store_batch_fail(b, store_error_from_mdb(mrc));
    return store_deadlines_replace(b, key, old, n_old, d, n);
}

int store_batch_deadlines_drop(store_batch_t *b, const char *beneficiary_id,
                               const store_deadline_t *d, size_t n)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    size_t len = store_id_len(beneficiary_id);
    if (len == 0 || (n > 0 && d == NULL))
        return STORE_EINVAL;
    uint8_t key[VAULT_HASH_SIZE];
    store_pathway_key(b->store, beneficiary_id, len, key);
    return store_deadlines_replace(b, key, d, n, NULL, 0);
}

int store_batch_due_clear(store_batch_t *b)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    /* The keys listed first, then deleted (a write under an open cursor would move it); each
     * delete journaled, so that the log replays the clearing as it was done. */
    uint8_t(*keys)[DUE_KEY_LEN] = NULL;
    size_t n = 0, cap = 0;
    MDB_cursor *c;
    int mrc = mdb_cursor_open(b->txn, b->store->due, &c);
    if (mrc != MDB_SUCCESS)
        return store_batch_fail(b, store_error_from_mdb(mrc));
    MDB_val key, value;
    for (mrc = mdb_cursor_get(c, &key, &value, MDB_FIRST); mrc == MDB_SUCCESS;
         mrc = mdb_cursor_get(c, &key, &value, MDB_NEXT)) {
        if (key.mv_size != DUE_KEY_LEN)
            continue;
        if (n == cap) {
            size_t grown = cap ? 2 * cap : 1024;
            uint8_t(*more)[DUE_KEY_LEN] = realloc(keys, grown * DUE_KEY_LEN);
            if (more == NULL) {
                mdb_cursor_close(c);
                free(keys);
                return store_batch_fail(b, STORE_ENOMEM);
            }
            keys = more;
            cap = grown;
        }
        memcpy(keys[n++], key.mv_data, DUE_KEY_LEN);
    }
    mdb_cursor_close(c);
    for (size_t i = 0; rc == STORE_OK && i < n; i++)
        rc = store_batch_del(b, b->store->due, keys[i], DUE_KEY_LEN);
    free(keys);
    return rc;
}

/* The beneficiary id of the pathway stored under key in txn, unsealed: STORE_OK, or
 * STORE_ENOTFOUND when the pathway is gone. */
static int pathway_id(store_t *s, MDB_txn *txn, const uint8_t key[VAULT_HASH_SIZE],
                      char id[STORE_ID_MAX + 1])
{
    MDB_val k = {VAULT_HASH_SIZE, (void *)key}, value;
    int mrc = mdb_get(txn, s->pathways, &k, &value);
    if (mrc != MDB_SUCCESS)
        return store_error_from_mdb(mrc);
    uint8_t *plain = NULL;
    size_t cap = 0, plain_len;
    record_pathway2_t r;
    Parcours__V1__Pathway *p = NULL;
    int rc = store_pathway_unseal(s, key, &value, &plain, &cap, &plain_len, &r);
    if (rc == STORE_OK)
        rc = record_pathway_unpack(plain, plain_len, &p);
    store_plain_free(plain, cap);
    if (rc == STORE_OK) {
        size_t len = store_id_len(p->beneficiary_id);
        if (len == 0)
            rc = STORE_ECORRUPT;
        else
            memcpy(id, p->beneficiary_id, len + 1);
        parcours__v1__pathway__free_unpacked(p, NULL);
    }
    return rc;
}

/* Reads a due entry: its deadline and its pathway's key. */
static int due_decode(const MDB_val *key, const MDB_val *value, store_deadline_t *d,
                      uint8_t pkey[VAULT_HASH_SIZE])
{
    if (key->mv_size != DUE_KEY_LEN || value->mv_size != 8)
        return STORE_ECORRUPT;
    const uint8_t *k = key->mv_data;
    uint64_t since;
    record_u64_decode(value->mv_data, 8, &since);
    d->due_at = (int64_t)be64_decode(k);
    d->kind = k[8 + VAULT_HASH_SIZE];
    d->since = (int64_t)since;
    memcpy(pkey, k + 8, VAULT_HASH_SIZE);
    return STORE_OK;
}

int store_batch_due_first(store_batch_t *b, int64_t now, store_due_t *out, size_t *dropped)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (out == NULL)
        return STORE_EINVAL;
    store_t *s = b->store;
    for (;;) {
        MDB_cursor *c;
        int mrc = mdb_cursor_open(b->txn, s->due, &c);
        if (mrc != MDB_SUCCESS)
            return store_batch_fail(b, store_error_from_mdb(mrc));
        MDB_val key, value;
        mrc = mdb_cursor_get(c, &key, &value, MDB_FIRST);
        uint8_t pkey[VAULT_HASH_SIZE];
        if (mrc == MDB_SUCCESS)
            rc = due_decode(&key, &value, &out->deadline, pkey);
        mdb_cursor_close(c);
        if (mrc == MDB_NOTFOUND)
            return STORE_ENOTFOUND;
        if (mrc != MDB_SUCCESS)
            return store_batch_fail(b, store_error_from_mdb(mrc));
        if (rc != STORE_OK)
            return store_batch_fail(b, rc);
        if (out->deadline.due_at > now)
            return STORE_ENOTFOUND;
        rc = pathway_id(s, b->txn, pkey, out->beneficiary_id);
        if (rc == STORE_OK)
            return STORE_OK;
        if (rc != STORE_ENOTFOUND)
            return store_batch_fail(b, rc);
        /* An entry whose pathway is gone (a destruction that did not say it): dropped. */
        uint8_t dk[DUE_KEY_LEN];
        due_key(dk, pkey, &out->deadline);
        rc = store_batch_del(b, s->due, dk, sizeof dk);
        if (rc != STORE_OK)
            return rc;
        if (dropped != NULL)
            (*dropped)++;
    }
}

int store_due_list(store_t *s, int64_t until, store_due_visit_fn fn, void *ctx, uint64_t *total)
{
    if (s == NULL || total == NULL)
        return STORE_EINVAL;
    *total = 0;
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_cursor *c = NULL;
    int mrc = mdb_cursor_open(txn, s->due, &c);
    bool listing = fn != NULL;
    MDB_val key, value;
    if (mrc == MDB_SUCCESS)
        mrc = mdb_cursor_get(c, &key, &value, MDB_FIRST);
    for (; mrc == MDB_SUCCESS && rc == STORE_OK; mrc = mdb_cursor_get(c, &key, &value, MDB_NEXT)) {
        store_due_t due;
        uint8_t pkey[VAULT_HASH_SIZE];
        if ((rc = due_decode(&key, &value, &due.deadline, pkey)) != STORE_OK)
            break;
        if (due.deadline.due_at > until)
            break;
        if (listing) {
            rc = pathway_id(s, txn, pkey, due.beneficiary_id);
            if (rc == STORE_ENOTFOUND) {
                rc = STORE_OK;
                continue; /* its pathway went: the timer drops the entry */
            }
            if (rc != STORE_OK)
                break;
            listing = fn(&due, ctx) == 0;
        }
        (*total)++;
    }
    if (c != NULL)
        mdb_cursor_close(c);
    store_read_end(s, txn);
    if (rc != STORE_OK)
        return rc;
    return mrc == MDB_SUCCESS || mrc == MDB_NOTFOUND ? STORE_OK : store_error_from_mdb(mrc);
}

int store_deadlines_indexed(store_t *s, const void *settings, size_t len, bool *indexed)
{
    if (s == NULL || indexed == NULL || (len > 0 && settings == NULL))
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_val key = {STORE_DEADLINES_INDEXED_KEY_LEN, STORE_DEADLINES_INDEXED_KEY}, value;
    int mrc = mdb_get(txn, s->meta, &key, &value);
    *indexed = mrc == MDB_SUCCESS && value.mv_size == len &&
               (len == 0 || memcmp(value.mv_data, settings, len) == 0);
    store_read_end(s, txn);
    return mrc == MDB_SUCCESS || mrc == MDB_NOTFOUND ? STORE_OK : store_error_from_mdb(mrc);
}

int store_batch_deadlines_mark_indexed(store_batch_t *b, const void *settings, size_t len)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (len == 0 || settings == NULL)
        return STORE_EINVAL;
    return store_batch_put(b, b->store->meta, STORE_DEADLINES_INDEXED_KEY,
                           STORE_DEADLINES_INDEXED_KEY_LEN, settings, len, 0);
}
