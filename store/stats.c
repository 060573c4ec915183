/*
 * stats.c: the statistics' counters (store.h, "Statistics"): one database, stats, from an opaque
 * key to a count, that nothing but an add ever writes, so that the counts stay once the people
 * they counted are purged or erased. The keys are the daemon's (daemon/rules/stats.h).
 */
#include "store_internal.h"

int store_batch_stats_add(store_batch_t *b, const void *key, size_t len, uint64_t delta)
{
    int rc = store_batch_usable(b);
    if (rc != STORE_OK)
        return rc;
    if (key == NULL || len == 0 || len > STORE_STATS_KEY_MAX)
        return STORE_EINVAL;
    MDB_val k = {len, (void *)key}, value;
    int mrc = mdb_get(b->txn, b->store->stats, &k, &value);
    uint64_t count = 0;
    if (mrc == MDB_SUCCESS) {
        if (record_u64_decode(value.mv_data, value.mv_size, &count) != STORE_OK)
            return store_batch_fail(b, STORE_ECORRUPT);
    } else if (mrc != MDB_NOTFOUND) {
        return store_batch_fail(b, store_error_from_mdb(mrc));
    }
    uint8_t out[8];
    record_u64_encode(out, count + delta);
    return store_batch_put(b, b->store->stats, key, len, out, sizeof out, 0);
}

int store_stats_foreach(store_t *s, store_stats_fn fn, void *ctx)
{
    if (s == NULL || fn == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_cursor *c = NULL;
    int mrc = mdb_cursor_open(txn, s->stats, &c);
    MDB_val key, value;
    if (mrc == MDB_SUCCESS)
        mrc = mdb_cursor_get(c, &key, &value, MDB_FIRST);
    for (; mrc == MDB_SUCCESS; mrc = mdb_cursor_get(c, &key, &value, MDB_NEXT)) {
        uint64_t count;
        if (record_u64_decode(value.mv_data, value.mv_size, &count) != STORE_OK) {
            rc = STORE_ECORRUPT;
            break;
        }
        if (fn(key.mv_data, key.mv_size, count, ctx) != 0)
            break;
    }
    if (c != NULL)
        mdb_cursor_close(c);
    store_read_end(s, txn);
    if (rc != STORE_OK)
        return rc;
    return mrc == MDB_SUCCESS || mrc == MDB_NOTFOUND ? STORE_OK : store_error_from_mdb(mrc);
}
