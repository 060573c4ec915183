/*
 * journal.c: the journal of a batch's puts. See journal.h for why a batch keeps one.
 */
#include "journal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "store.h"

/* One put of a batch. The key and value bytes live in the journal's byte buffer at the given
 * offsets. */
typedef struct journal_write {
    MDB_dbi dbi;
    unsigned flags;
    size_t key_offset, key_len, value_offset, value_len;
} journal_write_t;

struct journal {
    journal_write_t *writes;
    size_t writes_len, writes_cap;
    uint8_t *bytes; /* every key and value of writes */
    size_t bytes_len, bytes_cap;
};

journal_t *journal_new(void)
{
    return calloc(1, sizeof(journal_t));
}

void journal_destroy(journal_t **j)
{
    if (j == NULL || *j == NULL)
        return;
    free((*j)->writes);
    free((*j)->bytes);
    free(*j);
    *j = NULL;
}

static int journal_reserve(void **buffer, size_t *cap, size_t need, size_t unit)
{
    if (need <= *cap)
        return STORE_OK;
    size_t cap_new = *cap ? *cap : 64;
    while (cap_new < need)
        cap_new *= 2;
    void *p = realloc(*buffer, cap_new * unit);
    if (p == NULL)
        return STORE_ENOMEM;
    *buffer = p;
    *cap = cap_new;
    return STORE_OK;
}

int journal_add(journal_t *j, MDB_dbi dbi, const MDB_val *key, const MDB_val *value, unsigned flags)
{
    size_t need = j->bytes_len + key->mv_size + value->mv_size;
    int rc =
        journal_reserve((void **)&j->writes, &j->writes_cap, j->writes_len + 1, sizeof *j->writes);
    if (rc == STORE_OK)
        rc = journal_reserve((void **)&j->bytes, &j->bytes_cap, need, 1);
    if (rc != STORE_OK)
        return rc;
    journal_write_t *w = &j->writes[j->writes_len++];
    w->dbi = dbi;
    w->flags = flags;
    w->key_offset = j->bytes_len;
    w->key_len = key->mv_size;
    memcpy(j->bytes + j->bytes_len, key->mv_data, key->mv_size);
    j->bytes_len += key->mv_size;
    w->value_offset = j->bytes_len;
    w->value_len = value->mv_size;
    if (value->mv_size > 0)
        memcpy(j->bytes + j->bytes_len, value->mv_data, value->mv_size);
    j->bytes_len += value->mv_size;
    return STORE_OK;
}

int journal_replay(const journal_t *j, MDB_txn *txn)
{
    for (size_t i = 0; i < j->writes_len; i++) {
        const journal_write_t *w = &j->writes[i];
        MDB_val key = {w->key_len, j->bytes + w->key_offset};
        MDB_val value = {w->value_len, j->bytes + w->value_offset};
        int rc = w->flags & JOURNAL_DELETE ? mdb_del(txn, w->dbi, &key, NULL)
                                           : mdb_put(txn, w->dbi, &key, &value, w->flags);
        if (rc == MDB_NOTFOUND && (w->flags & JOURNAL_DELETE))
            rc = MDB_SUCCESS;
        if (rc != MDB_SUCCESS)
            return rc;
    }
    return MDB_SUCCESS;
}

void journal_drop_last(journal_t *j)
{
    if (j->writes_len == 0)
        return;
    j->writes_len--;
    j->bytes_len = j->writes[j->writes_len].key_offset;
}

int journal_encode(const journal_t *j, const MDB_dbi *dbis, size_t n_dbis, size_t head,
                   uint8_t **buf, size_t *cap, size_t *len)
{
    size_t need = head + j->writes_len * 13 + j->bytes_len;
    if (journal_reserve((void **)buf, cap, need, 1) != STORE_OK)
        return STORE_ENOMEM;
    uint8_t *out = *buf + head;
    size_t at = 0;
    for (size_t i = 0; i < j->writes_len; i++) {
        const journal_write_t *w = &j->writes[i];
        size_t index = 0;
        while (index < n_dbis && dbis[index] != w->dbi)
            index++;
        if (index == n_dbis || w->key_len > UINT32_MAX || w->value_len > UINT32_MAX)
            return STORE_EINVAL;
        out[at] = (uint8_t)index;
        record_u32_encode(out + at + 1, w->flags);
        record_u32_encode(out + at + 5, (uint32_t)w->key_len);
        record_u32_encode(out + at + 9, (uint32_t)w->value_len);
        at += 13;
        memcpy(out + at, j->bytes + w->key_offset, w->key_len);
        at += w->key_len;
        if (w->value_len > 0)
            memcpy(out + at, j->bytes + w->value_offset, w->value_len);
        at += w->value_len;
    }
    *len = at;
    return STORE_OK;
}

int journal_replay_encoded(const uint8_t *p, size_t len, MDB_txn *txn, const MDB_dbi *dbis,
                           size_t n_dbis)
{
    size_t at = 0;
    while (at < len) {
        if (len - at < 13 || p[at] >= n_dbis)
            return MDB_CORRUPTED;
        uint32_t flags, key_len, value_len;
        record_u32_decode(p + at + 1, 4, &flags);
        record_u32_decode(p + at + 5, 4, &key_len);
        record_u32_decode(p + at + 9, 4, &value_len);
        MDB_dbi dbi = dbis[p[at]];
        at += 13;
        if (len - at < key_len || len - at - key_len < value_len)
            return MDB_CORRUPTED;
        MDB_val key = {key_len, (void *)(p + at)};
        MDB_val value = {value_len, (void *)(p + at + key_len)};
        at += (size_t)key_len + value_len;
        int rc = flags & JOURNAL_DELETE ? mdb_del(txn, dbi, &key, NULL)
                                        : mdb_put(txn, dbi, &key, &value, flags);
        if (rc == MDB_NOTFOUND && (flags & JOURNAL_DELETE))
            rc = MDB_SUCCESS;
        if (rc != MDB_SUCCESS)
            return rc;
    }
    return MDB_SUCCESS;
}
