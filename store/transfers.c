/*
 * transfers.c: the moves from other territories a registration may claim (store.h, "Moves
 * between territories").
 *
 * One database, transfers: the keyed hash of the move's reference (so that nothing names the
 * move in clear) -> the TransferAnnounced's seq, the move's date and the announcement's commit
 * (8 bytes each, little-endian), the state (1 byte) and the destination territory (the rest, 1
 * to 8 bytes). What the move said is in the log, as a notice (store_batch_notice_append), and
 * goes once the territory's partners have it; this record stays, claimed or expired, so that a
 * move announced again is known for what it is (a bridge sending it once more, another bridge,
 * a restored origin), and never claimed twice. It names no one and holds no more than a date.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define TRANSFER_FIXED 25 /* seq, moved_at, announced_at, state */

static int transfer_decode(const MDB_val *v, store_transfer_t *out)
{
    if (v->mv_size <= TRANSFER_FIXED || v->mv_size > TRANSFER_FIXED + STORE_TERRITORY_MAX)
        return STORE_ECORRUPT;
    const uint8_t *p = v->mv_data;
    uint64_t moved_at, announced_at;
    if (record_u64_decode(p, 8, &out->seq) != STORE_OK ||
        record_u64_decode(p + 8, 8, &moved_at) != STORE_OK ||
        record_u64_decode(p + 16, 8, &announced_at) != STORE_OK || p[24] > STORE_TRANSFER_EXPIRED)
        return STORE_ECORRUPT;
    out->moved_at = (int64_t)moved_at;
    out->announced_at = (int64_t)announced_at;
    out->state = p[24];
    memcpy(out->territory, p + TRANSFER_FIXED, v->mv_size - TRANSFER_FIXED);
    out->territory[v->mv_size - TRANSFER_FIXED] = '\0';
    return STORE_OK;
}

static size_t transfer_encode(const store_transfer_t *t, uint8_t out[TRANSFER_FIXED + 8])
{
    size_t n = strnlen(t->territory, STORE_TERRITORY_MAX);
    record_u64_encode(out, t->seq);
    record_u64_encode(out + 8, (uint64_t)t->moved_at);
    record_u64_encode(out + 16, (uint64_t)t->announced_at);
    out[24] = (uint8_t)t->state;
    memcpy(out + TRANSFER_FIXED, t->territory, n);
    return TRANSFER_FIXED + n;
}

/* The record under key in the batch: STORE_OK, STORE_ENOTFOUND, or an error (batch dead). */
static int transfer_read(store_batch_t *b, const uint8_t key[STORE_HASH_SIZE],
                         store_transfer_t *out)
{
    MDB_val k = {STORE_HASH_SIZE, (void *)key}, v;
    int mrc = mdb_get(b->txn, b->store->transfers, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return STORE_ENOTFOUND;
    if (mrc != MDB_SUCCESS)
        return store_batch_fail(b, store_error_from_mdb(mrc));
    int rc = transfer_decode(&v, out);
    return rc == STORE_OK ? rc : store_batch_fail(b, rc);
}

static int transfer_write(store_batch_t *b, const uint8_t key[STORE_HASH_SIZE],
                          const store_transfer_t *t)
{
    uint8_t value[TRANSFER_FIXED + STORE_TERRITORY_MAX];
    size_t len = transfer_encode(t, value);
    return store_batch_put(b, b->store->transfers, key, STORE_HASH_SIZE, value, len, 0);
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
    uint8_t key[STORE_HASH_SIZE];
    store_id_hash(b->store, reference, key);
    store_transfer_t found;
    rc = transfer_read(b, key, &found);
    if (rc == STORE_OK)
        return STORE_EEXIST;
    if (rc != STORE_ENOTFOUND)
        return rc;
    store_transfer_t open = *t;
    open.state = STORE_TRANSFER_OPEN;
    return transfer_write(b, key, &open);
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
    return transfer_read(b, key, out);
}

int store_batch_transfer_claim(store_batch_t *b, const char *reference)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (store_id_len(reference) == 0)
        return STORE_EINVAL;
    uint8_t key[STORE_HASH_SIZE];
    store_id_hash(b->store, reference, key);
    store_transfer_t t;
    rc = transfer_read(b, key, &t);
    if (rc != STORE_OK)
        return rc;
    if (t.state != STORE_TRANSFER_OPEN)
        return STORE_ENOTFOUND;
    t.state = STORE_TRANSFER_CLAIMED;
    return transfer_write(b, key, &t);
}

int store_batch_transfers_expire(store_batch_t *b, uint8_t cursor[STORE_HASH_SIZE], int64_t before,
                                 size_t examine, size_t *expired)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (cursor == NULL || examine == 0)
        return STORE_EINVAL;
    if (expired != NULL)
        *expired = 0;
    /* The records to mark are listed first: writing under an open cursor would move it. */
    MDB_cursor *c;
    int mrc = mdb_cursor_open(b->txn, b->store->transfers, &c);
    if (mrc != MDB_SUCCESS)
        return store_batch_fail(b, store_error_from_mdb(mrc));
    struct due {
        uint8_t key[STORE_HASH_SIZE];
        store_transfer_t t;
    } *due = NULL;
    size_t n = 0, cap = 0, seen = 0;
    uint8_t last[STORE_HASH_SIZE] = {0};
    MDB_val k = {STORE_HASH_SIZE, cursor}, v;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == MDB_SUCCESS && seen < examine;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT), seen++) {
        store_transfer_t t;
        if (k.mv_size != STORE_HASH_SIZE || transfer_decode(&v, &t) != STORE_OK) {
            rc = STORE_ECORRUPT;
            break;
        }
        memcpy(last, k.mv_data, STORE_HASH_SIZE);
        if (t.state != STORE_TRANSFER_OPEN || t.announced_at >= before)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            struct due *p = realloc(due, cap * sizeof *p);
            if (p == NULL) {
                rc = STORE_ENOMEM;
                break;
            }
            due = p;
        }
        memcpy(due[n].key, k.mv_data, STORE_HASH_SIZE);
        due[n++].t = t;
    }
    mdb_cursor_close(c);
    if (rc == STORE_OK && mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_error_from_mdb(mrc);
    if (rc == STORE_OK) {
        /* On from the last record looked at; back to the start at the end. */
        if (mrc == MDB_NOTFOUND || seen == 0)
            memset(cursor, 0, STORE_HASH_SIZE);
        else {
            memcpy(cursor, last, STORE_HASH_SIZE);
            if (!store_key_next(cursor))
                memset(cursor, 0, STORE_HASH_SIZE);
        }
    }
    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        due[i].t.state = STORE_TRANSFER_EXPIRED;
        rc = transfer_write(b, due[i].key, &due[i].t);
    }
    free(due);
    if (rc != STORE_OK) {
        if (b->error == STORE_OK)
            store_batch_fail(b, rc);
        return rc;
    }
    if (expired != NULL)
        *expired = n;
    return STORE_OK;
}
