/*
 * upgrade.c: bringing a store written under an older schema to this one, as it is opened.
 *
 * Schema 1 to 2 (2026-12):
 *  - The log of schema 1 kept each Event frame as the partner sent it; schema 2 keeps the
 *    canonical encoding of the event the daemon checked (protobuf-c's packing of the decoded
 *    message), so that a payload a frame superseded, or bytes past a NUL that no check read,
 *    never leave the store again. Packing what protobuf-c decodes from a schema-1 frame gives
 *    exactly what the daemon of that time checked and applied: it read the same decoded message.
 *  - A pathway's version counted every episode; it now counts the events of the current episode
 *    (from its last registration on) but its suspensions, created_at is that registration's
 *    occurred_at and updated_at the last counted event's.
 *  - An exited pathway has no follow-up group any more: schema 2 ends the group with the exit,
 *    so that what its former members are told does not change when someone else opens a new
 *    episode.
 * The whole upgrade runs in the write transaction that opens the databases: all or nothing.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "store_internal.h"

/* Collects keys to rewrite once a cursor's walk is over (a put under a cursor moves it). */
typedef struct key_list {
    MDB_val *keys;
    size_t n, cap;
} key_list_t;

static int key_list_add(key_list_t *l, const MDB_val *key)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        MDB_val *keys = realloc(l->keys, cap * sizeof(*keys));
        if (keys == NULL)
            return STORE_ENOMEM;
        l->keys = keys;
        l->cap = cap;
    }
    void *copy = malloc(key->mv_size ? key->mv_size : 1);
    if (copy == NULL)
        return STORE_ENOMEM;
    memcpy(copy, key->mv_data, key->mv_size);
    l->keys[l->n++] = (MDB_val){key->mv_size, copy};
    return STORE_OK;
}

static void key_list_free(key_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->keys[i].mv_data);
    free(l->keys);
    memset(l, 0, sizeof(*l));
}

/* The canonical encoding of the event in a log value, into *out (caller frees); STORE_ECORRUPT
 * when the frame does not decode. */
static int log_canonical(const MDB_val *key, const MDB_val *value, store_log_entry_t *entry,
                         uint8_t **out, size_t *len)
{
    int rc = record_log_decode(key->mv_data, key->mv_size, value->mv_data, value->mv_size, entry);
    if (rc != STORE_OK)
        return rc;
    Parcours__V1__Event *e = parcours__v1__event__unpack(NULL, entry->raw_len, entry->raw);
    if (e == NULL)
        return STORE_ECORRUPT;
    *len = parcours__v1__event__get_packed_size(e);
    *out = malloc(*len ? *len : 1);
    if (*out != NULL)
        parcours__v1__event__pack(e, *out);
    parcours__v1__event__free_unpacked(e, NULL);
    return *out != NULL ? STORE_OK : STORE_ENOMEM;
}

/* Re-encodes every log entry whose frame is not already canonical. */
static int upgrade_log(store_t *s, MDB_txn *txn)
{
    MDB_cursor *c;
    int mrc = mdb_cursor_open(txn, s->log, &c);
    if (mrc != MDB_SUCCESS)
        return store_error_from_mdb(mrc);
    key_list_t changed = {0};
    int rc = STORE_OK;
    MDB_val key, value;
    for (mrc = mdb_cursor_get(c, &key, &value, MDB_FIRST); mrc == MDB_SUCCESS && rc == STORE_OK;
         mrc = mdb_cursor_get(c, &key, &value, MDB_NEXT)) {
        store_log_entry_t entry;
        uint8_t *canonical = NULL;
        size_t len = 0;
        rc = log_canonical(&key, &value, &entry, &canonical, &len);
        if (rc == STORE_OK && (len != entry.raw_len || memcmp(canonical, entry.raw, len) != 0))
            rc = key_list_add(&changed, &key);
        free(canonical);
    }
    mdb_cursor_close(c);
    if (rc == STORE_OK && mrc != MDB_NOTFOUND)
        rc = store_error_from_mdb(mrc);
    for (size_t i = 0; i < changed.n && rc == STORE_OK; i++) {
        mrc = mdb_get(txn, s->log, &changed.keys[i], &value);
        if (mrc != MDB_SUCCESS) {
            rc = store_error_from_mdb(mrc);
            break;
        }
        store_log_entry_t entry;
        uint8_t *canonical = NULL;
        size_t len = 0;
        rc = log_canonical(&changed.keys[i], &value, &entry, &canonical, &len);
        if (rc != STORE_OK) {
            free(canonical);
            break;
        }
        size_t size = record_log_size(len);
        uint8_t *record = malloc(size);
        if (record == NULL) {
            free(canonical);
            rc = STORE_ENOMEM;
            break;
        }
        record_log_encode(record, entry.type, entry.occurred_at, entry.committed_at, canonical,
                          len);
        free(canonical);
        MDB_val v = {size, record};
        rc = store_error_from_mdb(mdb_put(txn, s->log, &changed.keys[i], &v, 0));
        free(record);
    }
    key_list_free(&changed);
    return rc;
}

/* The version, creation and last-change dates of the current episode of a pathway record: its
 * events from the last registration on, read from their log entries. Suspensions are counted
 * by none, as in schema 2 (told to few, they would show in a version step or a date). */
static int episode_of(store_t *s, MDB_txn *txn, const record_pathway_t *r, uint64_t *version,
                      int64_t *created_at, int64_t *updated_at)
{
    *version = 0;
    bool updated = false;
    for (size_t i = r->n_seqs; i-- > 0;) {
        uint64_t seq = record_pathway_seq(r, i);
        MDB_val key = {sizeof(seq), &seq}, value;
        int mrc = mdb_get(txn, s->log, &key, &value);
        if (mrc != MDB_SUCCESS)
            return store_error_from_mdb(mrc);
        store_log_entry_t entry;
        int rc = record_log_decode(key.mv_data, key.mv_size, value.mv_data, value.mv_size, &entry);
        if (rc != STORE_OK)
            return rc;
        if (entry.type == PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_SUSPENSION_DECIDED ||
            entry.type == PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_SUSPENSION_LIFTED)
            continue;
        (*version)++;
        if (!updated) {
            *updated_at = entry.occurred_at;
            updated = true;
        }
        if (entry.type == PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_BENEFICIARY_REGISTERED) {
            *created_at = entry.occurred_at;
            return STORE_OK;
        }
    }
    return STORE_ECORRUPT; /* a pathway always starts with a registration */
}

/* Rewrites one pathway record with its episode's version and date, and without a group once
 * exited. */
static int upgrade_pathway(store_t *s, MDB_txn *txn, const MDB_val *key)
{
    MDB_val value;
    int mrc = mdb_get(txn, s->pathways, (MDB_val *)key, &value);
    if (mrc != MDB_SUCCESS)
        return store_error_from_mdb(mrc);
    record_pathway_t r;
    int rc = record_pathway_decode(value.mv_data, value.mv_size, &r);
    if (rc != STORE_OK)
        return rc;
    Parcours__V1__Pathway *p = parcours__v1__pathway__unpack(NULL, r.packed_len, r.packed);
    if (p == NULL)
        return STORE_ECORRUPT;
    uint64_t version;
    int64_t created_at = p->created_at, updated_at = p->updated_at;
    rc = episode_of(s, txn, &r, &version, &created_at, &updated_at);
    if (rc == STORE_OK) {
        p->version = version;
        p->created_at = created_at;
        p->updated_at = updated_at;
        if (p->exit != NULL) {
            for (size_t i = 0; i < p->n_members; i++)
                free(p->members[i]);
            free(p->members);
            p->members = NULL;
            p->n_members = 0;
        }
    }
    /* The seqs are copied out first: the new record is put over the value they point into. */
    uint8_t *seqs = NULL;
    size_t packed_len, record_len;
    if (rc == STORE_OK &&
        (rc = record_pathway_size(p, r.n_seqs, &packed_len, &record_len)) == STORE_OK) {
        seqs = malloc(8 * r.n_seqs + 1);
        uint8_t *record = malloc(record_len);
        if (seqs == NULL || record == NULL) {
            rc = STORE_ENOMEM;
        } else {
            memcpy(seqs, r.seqs, 8 * r.n_seqs);
            record_pathway_t old = {.seqs = seqs, .n_seqs = r.n_seqs};
            record_pathway_encode_seqs(record, p, packed_len, &old);
            MDB_val v = {record_len, record};
            rc = store_error_from_mdb(mdb_put(txn, s->pathways, (MDB_val *)key, &v, 0));
        }
        free(record);
    }
    free(seqs);
    parcours__v1__pathway__free_unpacked(p, NULL);
    return rc;
}

static int upgrade_pathways(store_t *s, MDB_txn *txn)
{
    MDB_cursor *c;
    int mrc = mdb_cursor_open(txn, s->pathways, &c);
    if (mrc != MDB_SUCCESS)
        return store_error_from_mdb(mrc);
    key_list_t all = {0};
    int rc = STORE_OK;
    MDB_val key, value;
    for (mrc = mdb_cursor_get(c, &key, &value, MDB_FIRST); mrc == MDB_SUCCESS && rc == STORE_OK;
         mrc = mdb_cursor_get(c, &key, &value, MDB_NEXT))
        rc = key_list_add(&all, &key);
    mdb_cursor_close(c);
    if (rc == STORE_OK && mrc != MDB_NOTFOUND)
        rc = store_error_from_mdb(mrc);
    for (size_t i = 0; i < all.n && rc == STORE_OK; i++)
        rc = upgrade_pathway(s, txn, &all.keys[i]);
    key_list_free(&all);
    return rc;
}

int store_upgrade(store_t *s, MDB_txn *txn, uint32_t from)
{
    if (from != 1)
        return STORE_ESCHEMA;
    int rc = upgrade_log(s, txn);
    if (rc == STORE_OK)
        rc = upgrade_pathways(s, txn);
    if (rc != STORE_OK)
        return rc;
    uint8_t version[4];
    record_u32_encode(version, STORE_SCHEMA_VERSION);
    MDB_val key = {6, "schema"}, value = {sizeof version, version};
    return store_error_from_mdb(mdb_put(txn, s->meta, &key, &value, 0));
}
