/*
 * transfers.c: the moves from other territories a registration may claim (store.h, "Moves
 * between territories").
 *
 * One database, transfers: the keyed hash of the move's reference (so that nothing names the
 * move in clear) -> the TransferAnnounced's seq and the move's date (8 bytes each, little-endian)
 * and its destination territory (the rest, 1 to 8 bytes). What the move said is in the log, as a
 * notice (store_batch_notice_append), and goes once the territory's partners have it; this record
 * goes when a registration claims the move, or when it expires unclaimed.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define TRANSFER_VALUE_MIN 17

static int transfer_decode(const MDB_val *v, store_transfer_t *out)
{
    if (v->mv_size < TRANSFER_VALUE_MIN || v->mv_size > 16 + STORE_TERRITORY_MAX)
        return STORE_ECORRUPT;
    const uint8_t *p = v->mv_data;
    uint64_t moved_at;
    if (record_u64_decode(p, 8, &out->seq) != STORE_OK ||
        record_u64_decode(p + 8, 8, &moved_at) != STORE_OK)
        return STORE_ECORRUPT;
    out->moved_at = (int64_t)moved_at;
    memcpy(out->territory, p + 16, v->mv_size - 16);
    out->territory[v->mv_size - 16] = '\0';
    return STORE_OK;
}

int store_batch_transfer_put(store_batch_t *b, const char *reference, const store_transfer_t *t)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    size_t territory_len = t != NULL ? strnlen(t->territory, STORE_TERRITORY_MAX + 1) : 0;
    if (store_id_len(reference) == 0 || t == NULL || territory_len == 0 ||
        territory_len > STORE_TERRITORY_MAX)
        return STORE_EINVAL;
    uint8_t key[STORE_HASH_SIZE], value[16 + STORE_TERRITORY_MAX];
    store_id_hash(b->store, reference, key);
    MDB_val k = {sizeof key, key}, found;
    int mrc = mdb_get(b->txn, b->store->transfers, &k, &found);
    if (mrc == MDB_SUCCESS)
        return STORE_EEXIST;
    if (mrc != MDB_NOTFOUND)
        return store_batch_fail(b, store_error_from_mdb(mrc));
    record_u64_encode(value, t->seq);
    record_u64_encode(value + 8, (uint64_t)t->moved_at);
    memcpy(value + 16, t->territory, territory_len);
    return store_batch_put(b, b->store->transfers, key, sizeof key, value, 16 + territory_len, 0);
}

int store_batch_transfer_get(store_batch_t *b, const char *reference, store_transfer_t *out)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (store_id_len(reference) == 0 || out == NULL)
        return STORE_EINVAL;
    uint8_t key[STORE_HASH_SIZE];
    store_id_hash(b->store, reference, key);
    MDB_val k = {sizeof key, key}, v;
    int mrc = mdb_get(b->txn, b->store->transfers, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return STORE_ENOTFOUND;
    if (mrc != MDB_SUCCESS)
        return store_batch_fail(b, store_error_from_mdb(mrc));
    return transfer_decode(&v, out);
}

int store_batch_transfer_claim(store_batch_t *b, const char *reference)
{
    store_transfer_t t;
    int rc = store_batch_transfer_get(b, reference, &t);
    if (rc != STORE_OK)
        return rc;
    uint8_t key[STORE_HASH_SIZE];
    store_id_hash(b->store, reference, key);
    return store_batch_del(b, b->store->transfers, key, sizeof key);
}

int store_batch_transfers_expire(store_batch_t *b, int64_t before, size_t examine, size_t *expired)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (expired != NULL)
        *expired = 0;
    /* The keys to remove are listed first: writing under an open cursor would move it. */
    MDB_cursor *c;
    int mrc = mdb_cursor_open(b->txn, b->store->transfers, &c);
    if (mrc != MDB_SUCCESS)
        return store_batch_fail(b, store_error_from_mdb(mrc));
    uint8_t(*keys)[STORE_HASH_SIZE] = NULL;
    size_t n = 0, cap = 0, seen = 0;
    MDB_val k, v;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == MDB_SUCCESS && seen < examine;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT), seen++) {
        store_transfer_t t;
        if (k.mv_size != STORE_HASH_SIZE || transfer_decode(&v, &t) != STORE_OK) {
            rc = STORE_ECORRUPT;
            break;
        }
        if (t.moved_at >= before)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            uint8_t(*p)[STORE_HASH_SIZE] = realloc(keys, cap * sizeof *keys);
            if (p == NULL) {
                rc = STORE_ENOMEM;
                break;
            }
            keys = p;
        }
        memcpy(keys[n++], k.mv_data, STORE_HASH_SIZE);
    }
    mdb_cursor_close(c);
    if (rc == STORE_OK && mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_error_from_mdb(mrc);
    for (size_t i = 0; rc == STORE_OK && i < n; i++)
        rc = store_batch_del(b, b->store->transfers, keys[i], STORE_HASH_SIZE);
    free(keys);
    if (rc != STORE_OK) {
        if (b->error == STORE_OK)
            store_batch_fail(b, rc);
        return rc;
    }
    if (expired != NULL)
        *expired = n;
    return STORE_OK;
}

int store_transfers_count(store_t *s, uint64_t *n)
{
    if (s == NULL || n == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_stat st;
    int mrc = mdb_stat(txn, s->transfers, &st);
    store_read_end(s, txn);
    if (mrc != MDB_SUCCESS)
        return store_error_from_mdb(mrc);
    *n = st.ms_entries;
    return STORE_OK;
}
