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
 * Schema 2 to 3 (2026-12): every pathway and every log entry sealed under its person's vault key
 * (vault.h), pathways keyed by the keyed hash of the beneficiary id, and each log entry told who
 * it went to (rebuilt from the outboxes).
 * The whole upgrade runs in the write transaction that opens the databases: all or nothing.
 */
#include <sodium.h>
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

/* Lists every key of dbi into *l, to rewrite them once the walk is over. */
static int key_list_all(MDB_txn *txn, MDB_dbi dbi, key_list_t *l)
{
    MDB_cursor *c;
    int mrc = mdb_cursor_open(txn, dbi, &c);
    if (mrc != MDB_SUCCESS)
        return store_error_from_mdb(mrc);
    int rc = STORE_OK;
    MDB_val key, value;
    for (mrc = mdb_cursor_get(c, &key, &value, MDB_FIRST); mrc == MDB_SUCCESS && rc == STORE_OK;
         mrc = mdb_cursor_get(c, &key, &value, MDB_NEXT))
        rc = key_list_add(l, &key);
    mdb_cursor_close(c);
    if (rc == STORE_OK && mrc != MDB_NOTFOUND && mrc != MDB_SUCCESS)
        rc = store_error_from_mdb(mrc);
    return rc;
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
    key_list_t all = {0};
    int rc = key_list_all(txn, s->pathways, &all);
    for (size_t i = 0; i < all.n && rc == STORE_OK; i++)
        rc = upgrade_pathway(s, txn, &all.keys[i]);
    key_list_free(&all);
    return rc;
}

/* --- Schema 2 to 3 ---------------------------------------------------------------------------- */

typedef struct told_row {
    uint64_t seq, partner_seq;
    size_t order;
    record_told_t told;
    char id[STORE_ID_MAX + 1];
} told_row_t;

typedef struct person {
    uint8_t hash[VAULT_HASH_SIZE];
    uint32_t slot;
} person_t;

static int told_row_cmp(const void *a, const void *b)
{
    const told_row_t *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int person_cmp(const void *a, const void *b)
{
    return memcmp(((const person_t *)a)->hash, ((const person_t *)b)->hash, VAULT_HASH_SIZE);
}

/* Every outbox entry as (seq, partner, partner_seq), sorted by seq. */
static int outbox_rows(store_t *s, MDB_txn *txn, told_row_t **rows, size_t *n)
{
    MDB_cursor *c;
    int mrc = mdb_cursor_open(txn, s->outbox, &c);
    if (mrc != MDB_SUCCESS)
        return store_error_from_mdb(mrc);
    size_t cap = 0;
    int rc = STORE_OK;
    MDB_val key, value;
    *rows = NULL;
    *n = 0;
    for (mrc = mdb_cursor_get(c, &key, &value, MDB_FIRST); mrc == MDB_SUCCESS && rc == STORE_OK;
         mrc = mdb_cursor_get(c, &key, &value, MDB_NEXT)) {
        const uint8_t *k = key.mv_data;
        const uint8_t *sep = key.mv_size > 9 ? memchr(k, 0, key.mv_size - 8) : NULL;
        size_t len = sep != NULL ? (size_t)(sep - k) : 0;
        if (len == 0 || len > STORE_ID_MAX || key.mv_size != len + 9) {
            rc = STORE_ECORRUPT;
            break;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 1024;
            told_row_t *p = realloc(*rows, cap * sizeof *p);
            if (p == NULL) {
                rc = STORE_ENOMEM;
                break;
            }
            *rows = p;
        }
        told_row_t *r = &(*rows)[*n];
        memcpy(r->id, k, len);
        r->id[len] = '\0';
        record_outbox_key_match(k, key.mv_size, r->id, len, &r->partner_seq);
        rc = record_u64_decode(value.mv_data, value.mv_size, &r->seq);
        r->order = *n;
        (*n)++;
    }
    mdb_cursor_close(c);
    if (rc == STORE_OK && mrc != MDB_NOTFOUND)
        rc = store_error_from_mdb(mrc);
    if (rc == STORE_OK)
        qsort(*rows, *n, sizeof **rows, told_row_cmp);
    for (size_t i = 0; rc == STORE_OK && i < *n; i++)
        (*rows)[i].told =
            (record_told_t){(*rows)[i].id, strlen((*rows)[i].id), (*rows)[i].partner_seq};
    return rc;
}

/* Seals one pathway under a new slot and moves it to its hashed key. */
static int seal_pathway(store_t *s, MDB_txn *txn, const MDB_val *key, uint32_t *next,
                        person_t *person)
{
    MDB_val value;
    int mrc = mdb_get(txn, s->pathways, (MDB_val *)key, &value);
    if (mrc != MDB_SUCCESS)
        return store_error_from_mdb(mrc);
    int rc = vault_reserve(s->vault, *next);
    if (rc != STORE_OK)
        return rc;
    person->slot = (*next)++;
    vault_hash(s->vault, key->mv_data, key->mv_size, person->hash);
    /* The retention clock: the date of its last event (the log is not sealed yet). */
    record_pathway_t r;
    int64_t last_contact = 0;
    rc = record_pathway_decode(value.mv_data, value.mv_size, &r);
    if (rc == STORE_OK && r.n_seqs > 0) {
        uint64_t last = record_pathway_seq(&r, r.n_seqs - 1);
        MDB_val lk = {sizeof last, &last}, lv;
        store_log_entry_t entry;
        if (mdb_get(txn, s->log, &lk, &lv) == MDB_SUCCESS &&
            record_log_decode(lk.mv_data, lk.mv_size, lv.mv_data, lv.mv_size, &entry) == STORE_OK)
            last_contact =
                entry.occurred_at < entry.committed_at ? entry.occurred_at : entry.committed_at;
    }
    if (rc != STORE_OK)
        return rc;
    size_t len = RECORD_PATHWAY2_HEADER + vault_sealed_len(s->vault, value.mv_size);
    uint8_t *sealed = malloc(len);
    if (sealed == NULL)
        return STORE_ENOMEM;
    record_pathway2_header(sealed, 0, person->slot, last_contact);
    rc = vault_seal(s->vault, person->slot, person->hash, VAULT_HASH_SIZE, value.mv_data,
                    value.mv_size, sealed + RECORD_PATHWAY2_HEADER);
    MDB_val hk = {VAULT_HASH_SIZE, person->hash}, hv = {len, sealed};
    if (rc == STORE_OK)
        rc = store_error_from_mdb(mdb_del(txn, s->pathways, (MDB_val *)key, NULL));
    if (rc == STORE_OK)
        rc = store_error_from_mdb(mdb_put(txn, s->pathways, &hk, &hv, 0));
    free(sealed);
    return rc;
}

/* Seals one log entry of schema 2 under its person's slot, with the partners told of it. */
static int seal_log(store_t *s, MDB_txn *txn, uint64_t seq, const person_t *people, size_t n_people,
                    const told_row_t *rows, size_t n_rows)
{
    MDB_val key = {sizeof seq, &seq}, value;
    int mrc = mdb_get(txn, s->log, &key, &value);
    if (mrc != MDB_SUCCESS)
        return store_error_from_mdb(mrc);
    store_log_entry_t entry;
    int rc = record_log_decode(key.mv_data, key.mv_size, value.mv_data, value.mv_size, &entry);
    if (rc != STORE_OK)
        return rc;
    Parcours__V1__Event *e = parcours__v1__event__unpack(NULL, entry.raw_len, entry.raw);
    if (e == NULL || e->beneficiary_id == NULL || e->beneficiary_id[0] == '\0') {
        parcours__v1__event__free_unpacked(e, NULL);
        return STORE_ECORRUPT;
    }
    person_t probe;
    vault_hash(s->vault, e->beneficiary_id, strlen(e->beneficiary_id), probe.hash);
    parcours__v1__event__free_unpacked(e, NULL);
    const person_t *p = bsearch(&probe, people, n_people, sizeof *people, person_cmp);
    if (p == NULL)
        return STORE_ECORRUPT; /* an event whose beneficiary has no pathway */
    /* This seq's rows: the first with row.seq >= seq, then while equal. */
    size_t lo = 0, hi = n_rows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rows[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t n = 0;
    while (lo + n < n_rows && rows[lo + n].seq == seq)
        n++;
    record_told_t *told = malloc((n ? n : 1) * sizeof *told);
    if (told == NULL)
        return STORE_ENOMEM;
    for (size_t i = 0; i < n; i++)
        told[i] = rows[lo + i].told;
    size_t body_len = record_body_size(entry.raw_len, told, n);
    size_t len = RECORD_LOG2_HEADER + vault_sealed_len(s->vault, body_len);
    uint8_t *body = malloc(body_len), *sealed = malloc(len);
    if (body == NULL || sealed == NULL) {
        rc = STORE_ENOMEM;
    } else {
        record_body_encode(body, entry.raw, entry.raw_len, told, n);
        record_log2_header(sealed, RECORD_LOG_EVENT, (uint16_t)entry.type, entry.occurred_at,
                           entry.committed_at, p->slot);
        uint8_t ad[RECORD_LOG2_AD];
        record_log2_ad(ad, seq, sealed);
        rc = vault_seal(s->vault, p->slot, ad, sizeof ad, body, body_len,
                        sealed + RECORD_LOG2_HEADER);
        MDB_val v = {len, sealed};
        if (rc == STORE_OK)
            rc = store_error_from_mdb(mdb_put(txn, s->log, &key, &v, 0));
        sodium_memzero(body, body_len);
    }
    free(body);
    free(sealed);
    free(told);
    return rc;
}

static int upgrade_seal(store_t *s, MDB_txn *txn)
{
    told_row_t *rows = NULL;
    size_t n_rows = 0;
    int rc = outbox_rows(s, txn, &rows, &n_rows);
    key_list_t pathways = {0}, log = {0};
    if (rc == STORE_OK)
        rc = key_list_all(txn, s->pathways, &pathways);
    if (rc == STORE_OK)
        rc = key_list_all(txn, s->log, &log);
    person_t *people = calloc(pathways.n ? pathways.n : 1, sizeof *people);
    if (rc == STORE_OK && people == NULL)
        rc = STORE_ENOMEM;
    uint32_t next = 1;
    for (size_t i = 0; rc == STORE_OK && i < pathways.n; i++)
        rc = seal_pathway(s, txn, &pathways.keys[i], &next, &people[i]);
    if (rc == STORE_OK)
        qsort(people, pathways.n, sizeof *people, person_cmp);
    for (size_t i = 0; rc == STORE_OK && i < log.n; i++) {
        uint64_t seq;
        rc = record_log_key_decode(log.keys[i].mv_data, log.keys[i].mv_size, &seq);
        if (rc == STORE_OK)
            rc = seal_log(s, txn, seq, people, pathways.n, rows, n_rows);
    }
    if (rc == STORE_OK) {
        uint8_t v[4];
        record_u32_encode(v, next);
        MDB_val k = {10, "vault_next"}, val = {sizeof v, v};
        rc = store_error_from_mdb(mdb_put(txn, s->meta, &k, &val, 0));
    }
    free(people);
    free(rows);
    key_list_free(&pathways);
    key_list_free(&log);
    return rc;
}

int store_upgrade(store_t *s, MDB_txn *txn, uint32_t from)
{
    if (from != 1 && from != 2)
        return STORE_ESCHEMA;
    int rc = STORE_OK;
    if (from == 1) {
        rc = upgrade_log(s, txn);
        if (rc == STORE_OK)
            rc = upgrade_pathways(s, txn);
    }
    if (rc == STORE_OK)
        rc = upgrade_seal(s, txn);
    if (rc != STORE_OK)
        return rc;
    s->sealed_now = true;
    uint8_t version[4];
    record_u32_encode(version, STORE_SCHEMA_VERSION);
    MDB_val key = {6, "schema"}, value = {sizeof version, version};
    return store_error_from_mdb(mdb_put(txn, s->meta, &key, &value, 0));
}
