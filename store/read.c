/*
 * read.c: the store's reads, each in a read transaction of its own (MDB_NOTLS lets the owning
 * thread read while its batch is open), and the readers batches share inside their own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include "record.h"
#include "store_internal.h"

/* --- Sealed records ------------------------------------------------------------------------- */

int store_grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return STORE_OK;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    uint8_t *p = realloc(*buf, c);
    if (p == NULL)
        return STORE_ENOMEM;
    *buf = p;
    *cap = c;
    return STORE_OK;
}

void store_plain_free(void *p, size_t cap)
{
    if (p != NULL)
        sodium_memzero(p, cap);
    free(p);
}

void store_pathway_key(const store_t *s, const char *beneficiary_id, size_t len,
                       uint8_t key[VAULT_HASH_SIZE])
{
    vault_hash(s->vault, beneficiary_id, len, key);
}

void store_id_hash(const store_t *s, const char *id, uint8_t out[STORE_HASH_SIZE])
{
    vault_hash(s->vault, id, strlen(id), out);
}

uint64_t store_notices_pending(const store_t *s)
{
    return s != NULL ? s->notices_pending : 0;
}

int store_pathway_unseal(const store_t *s, const uint8_t key[VAULT_HASH_SIZE], const MDB_val *value,
                         uint8_t **buf, size_t *cap, size_t *plain_len, record_pathway2_t *r)
{
    int rc = record_pathway2_decode(value->mv_data, value->mv_size, r);
    if (rc != STORE_OK)
        return rc;
    if (store_grow(buf, cap, r->sealed_len + 1) != STORE_OK)
        return STORE_ENOMEM;
    rc = vault_unseal(s->vault, r->slot, key, VAULT_HASH_SIZE, r->sealed, r->sealed_len, *buf,
                      plain_len);
    /* A pathway record always has its key: one destroyed under it is a store that disagrees. */
    return rc == STORE_ENOTFOUND ? STORE_ECORRUPT : rc;
}

int store_log_unseal(const store_t *s, const MDB_val *key, const MDB_val *value, uint8_t **buf,
                     size_t *cap, store_log_entry_t *entry, const uint8_t **told, size_t *n_told,
                     const uint8_t **told_end)
{
    uint64_t seq;
    record_log2_t r;
    int rc = record_log_key_decode(key->mv_data, key->mv_size, &seq);
    if (rc == STORE_OK)
        rc = record_log2_decode(value->mv_data, value->mv_size, &r);
    if (rc != STORE_OK)
        return rc;
    memset(entry, 0, sizeof *entry);
    entry->seq = seq;
    entry->type = (Parcours__V1__EventType)r.type;
    entry->occurred_at = r.occurred_at;
    entry->committed_at = r.committed_at;
    if (told != NULL)
        *told = NULL, *n_told = 0, *told_end = NULL;
    if (r.kind == RECORD_LOG_TOMBSTONE) {
        entry->kind = STORE_LOG_WITHDRAWN;
        return STORE_OK;
    }
    entry->kind = r.kind == RECORD_LOG_ERASURE     ? STORE_LOG_ERASURE
                  : r.kind == RECORD_LOG_RETRACTED ? STORE_LOG_WITHDRAWN
                                                   : STORE_LOG_EVENT;
    size_t plain_len = 0;
    if (store_grow(buf, cap, r.sealed_len + 1) != STORE_OK)
        return STORE_ENOMEM;
    uint8_t ad[RECORD_LOG2_AD];
    record_log2_ad(ad, seq, value->mv_data);
    rc = vault_unseal(s->vault, r.slot, ad, sizeof ad, r.sealed, r.sealed_len, *buf, &plain_len);
    if (rc == STORE_ENOTFOUND) {
        /* Its key was destroyed and the tombstone not yet written (a notice being settled):
         * nothing of it can be read, which is what a tombstone says. */
        entry->kind = STORE_LOG_WITHDRAWN;
        return STORE_OK;
    }
    const uint8_t *t;
    size_t n;
    if (rc == STORE_OK)
        rc = record_body_decode(*buf, plain_len, &entry->raw, &entry->raw_len, &t, &n);
    if (rc == STORE_OK && entry->kind == STORE_LOG_WITHDRAWN) {
        entry->raw = NULL; /* retracted: no event, only who was told of it */
        entry->raw_len = 0;
    }
    if (rc == STORE_OK && told != NULL) {
        *told = t;
        *n_told = n;
        *told_end = *buf + plain_len;
    }
    return rc;
}

/* --- Reading records in a transaction --------------------------------------------------------- */

/* Reads and unpacks a pathway in txn. On STORE_OK the caller owns *out. */
int store_pathway_read(store_t *s, MDB_txn *txn, const char *beneficiary_id,
                       Parcours__V1__Pathway **out)
{
    size_t len = store_id_len(beneficiary_id);
    if (len == 0 || out == NULL)
        return STORE_EINVAL;
    uint8_t k[VAULT_HASH_SIZE];
    store_pathway_key(s, beneficiary_id, len, k);
    MDB_val key = {sizeof k, k}, value;
    int rc = mdb_get(txn, s->pathways, &key, &value);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    size_t plain_len, cap = 0;
    uint8_t *plain = NULL;
    record_pathway2_t r;
    rc = store_pathway_unseal(s, k, &value, &plain, &cap, &plain_len, &r);
    if (rc == STORE_OK)
        rc = record_pathway_unpack(plain, plain_len, out);
    store_plain_free(plain, cap);
    return rc;
}

int store_dedupe_read(MDB_txn *txn, MDB_dbi dbi, const char *partner_id, const char *event_id,
                      uint64_t *seq)
{
    size_t partner_len = store_id_len(partner_id), event_len = store_id_len(event_id);
    if (partner_len == 0 || event_len == 0 || seq == NULL)
        return STORE_EINVAL;
    uint8_t buf[RECORD_KEY_MAX];
    MDB_val key = {record_dedupe_key(buf, partner_id, partner_len, event_id, event_len), buf};
    MDB_val value;
    int rc = mdb_get(txn, dbi, &key, &value);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    return record_u64_decode(value.mv_data, value.mv_size, seq);
}

/* Finds the last partner_seq of a partner's outbox in txn: 0 when the outbox is empty. */
int store_outbox_read_last(MDB_txn *txn, MDB_dbi dbi, const char *partner_id, size_t partner_len,
                           uint64_t max_seq, uint64_t *last)
{
    uint8_t buf[RECORD_KEY_MAX];
    size_t probe_len = record_outbox_key(buf, partner_id, partner_len, UINT64_MAX);
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, dbi, &cursor);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    MDB_val key = {probe_len, buf}, value;
    rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    /* The probe is the greatest key the partner can have: an exact hit is its last entry,
     * otherwise the entry just before the first greater key is. */
    if (rc == MDB_SUCCESS &&
        !(key.mv_size == probe_len && memcmp(key.mv_data, buf, probe_len) == 0))
        rc = mdb_cursor_get(cursor, &key, &value, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cursor, &key, &value, MDB_LAST);
    *last = 0;
    /* Entries of seqs past max_seq (batches not yet durable) are stepped over, from the end:
     * they are the partner's last few at most. A key of another partner, or none, leaves *last
     * at 0: this partner's outbox is empty (up to max_seq). */
    uint64_t partner_seq = 0, seq = 0;
    while (rc == MDB_SUCCESS && record_outbox_key_match(key.mv_data, key.mv_size, partner_id,
                                                        partner_len, &partner_seq)) {
        if (record_u64_decode(value.mv_data, value.mv_size, &seq) != STORE_OK) {
            mdb_cursor_close(cursor);
            return STORE_ECORRUPT;
        }
        if (seq <= max_seq) {
            *last = partner_seq;
            break;
        }
        rc = mdb_cursor_get(cursor, &key, &value, MDB_PREV);
    }
    mdb_cursor_close(cursor);
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? STORE_OK : store_error_from_mdb(rc);
}

/* The last seq ever appended: the greater of meta "last_seq" and the log's last key, so that a
 * seq is never reused even if log entries were removed. */
int store_last_seq_read(store_t *s, MDB_txn *txn, uint64_t *last_seq)
{
    MDB_val key = {8, "last_seq"}, value;
    *last_seq = 0;
    int rc = mdb_get(txn, s->meta, &key, &value);
    if (rc == MDB_SUCCESS) {
        rc = record_u64_decode(value.mv_data, value.mv_size, last_seq);
        if (rc != STORE_OK)
            return rc;
    } else if (rc != MDB_NOTFOUND) {
        return store_error_from_mdb(rc);
    }
    MDB_cursor *cursor;
    rc = mdb_cursor_open(txn, s->log, &cursor);
    if (rc != MDB_SUCCESS)
        return store_error_from_mdb(rc);
    rc = mdb_cursor_get(cursor, &key, &value, MDB_LAST);
    uint64_t seq;
    if (rc == MDB_SUCCESS && record_log_key_decode(key.mv_data, key.mv_size, &seq) == STORE_OK &&
        seq > *last_seq)
        *last_seq = seq;
    mdb_cursor_close(cursor);
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? STORE_OK : store_error_from_mdb(rc);
}

/* --- Reading in a transaction of its own -------------------------------------------------------
 */

/* Visits one record: 0 goes on, > 0 stops, < 0 is a STORE_E* error that ends the scan. */
typedef int (*store_visit_fn)(const MDB_val *key, const MDB_val *value, void *ctx);

/*
 * Walks dbi in one read transaction, from its first key (start NULL) or from the first key at
 * or after *start, until visit stops or the keys end. visit runs the caller's callback: while it
 * runs, the read keeps this thread's batches from growing the map under it (store_reading).
 */
static int store_scan(store_t *s, MDB_dbi dbi, MDB_val *start, store_visit_fn visit, void *ctx)
{
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_cursor *cursor;
    int mrc = mdb_cursor_open(txn, dbi, &cursor);
    if (mrc != MDB_SUCCESS) {
        store_read_end(s, txn);
        return store_error_from_mdb(mrc);
    }
    MDB_val key = start != NULL ? *start : (MDB_val){0, NULL}, value;
    MDB_cursor_op first = start != NULL ? MDB_SET_RANGE : MDB_FIRST;
    for (mrc = mdb_cursor_get(cursor, &key, &value, first); mrc == MDB_SUCCESS;
         mrc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
        int step = visit(&key, &value, ctx);
        if (step != 0) {
            rc = step < 0 ? step : STORE_OK;
            break;
        }
    }
    if (rc == STORE_OK && mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_error_from_mdb(mrc);
    mdb_cursor_close(cursor);
    store_read_end(s, txn);
    return rc;
}

int store_pathway_get(store_t *s, const char *beneficiary_id, Parcours__V1__Pathway **out)
{
    if (s == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    rc = store_pathway_read(s, txn, beneficiary_id, out);
    store_read_end(s, txn);
    return rc;
}

/* Reads and unseals a pathway record into *plain (grown as needed; the caller frees it with
 * store_plain_free): *r points into it. */
static int store_pathway_record(store_t *s, MDB_txn *txn, const char *beneficiary_id, size_t len,
                                record_pathway_t *r, store_pathway_meta_t *meta, uint8_t **plain,
                                size_t *cap)
{
    uint8_t k[VAULT_HASH_SIZE];
    store_pathway_key(s, beneficiary_id, len, k);
    MDB_val key = {sizeof k, k}, value;
    int rc = store_error_from_mdb(mdb_get(txn, s->pathways, &key, &value));
    size_t plain_len;
    record_pathway2_t r2;
    if (rc == STORE_OK)
        rc = store_pathway_unseal(s, k, &value, plain, cap, &plain_len, &r2);
    if (rc == STORE_OK && meta != NULL) {
        meta->last_contact = r2.last_contact;
        meta->held = (r2.flags & RECORD_PATHWAY_FLAG_HOLD) != 0;
        meta->opposed = (r2.flags & RECORD_PATHWAY_FLAG_OPPOSED) != 0;
    }
    return rc == STORE_OK ? record_pathway_decode(*plain, plain_len, r) : rc;
}

int store_pathway_get_packed(store_t *s, const char *beneficiary_id, uint8_t **packed, size_t *len,
                             store_pathway_meta_t *meta)
{
    size_t id_len = store_id_len(beneficiary_id);
    if (s == NULL || id_len == 0 || packed == NULL || len == NULL)
        return STORE_EINVAL;
    *packed = NULL;
    *len = 0;
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    record_pathway_t record;
    uint8_t *plain = NULL;
    size_t cap = 0;
    rc = store_pathway_record(s, txn, beneficiary_id, id_len, &record, meta, &plain, &cap);
    if (rc == STORE_OK) {
        *packed = malloc(record.packed_len > 0 ? record.packed_len : 1);
        if (*packed == NULL) {
            rc = STORE_ENOMEM;
        } else {
            memcpy(*packed, record.packed, record.packed_len);
            *len = record.packed_len;
        }
    }
    store_plain_free(plain, cap);
    store_read_end(s, txn);
    return rc;
}

int store_pathway_seqs(store_t *s, const char *beneficiary_id, uint64_t **seqs, size_t *n)
{
    size_t len = store_id_len(beneficiary_id);
    if (s == NULL || len == 0 || seqs == NULL || n == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    record_pathway_t record;
    uint8_t *plain = NULL;
    size_t cap = 0;
    rc = store_pathway_record(s, txn, beneficiary_id, len, &record, NULL, &plain, &cap);
    if (rc == STORE_OK) {
        *seqs = malloc(record.n_seqs > 0 ? record.n_seqs * sizeof **seqs : 1);
        if (*seqs == NULL)
            rc = STORE_ENOMEM;
    }
    if (rc == STORE_OK) {
        for (size_t i = 0; i < record.n_seqs; i++)
            (*seqs)[i] = record_pathway_seq(&record, i);
        *n = record.n_seqs;
    }
    store_plain_free(plain, cap);
    store_read_end(s, txn);
    return rc;
}

/* store_pathway_foreach's caller, for the scan. */
/* A scan unseals into a buffer of its own: its callback may read the store. */
typedef struct pathway_visit {
    store_t *s;
    store_pathway_fn fn;
    void *ctx;
    uint8_t *buf;
    size_t cap;
} pathway_visit_t;

static int pathway_visit(const MDB_val *key, const MDB_val *value, void *ctx)
{
    pathway_visit_t *v = ctx;
    if (key->mv_size != VAULT_HASH_SIZE)
        return STORE_ECORRUPT;
    Parcours__V1__Pathway *pathway;
    size_t plain_len;
    record_pathway2_t r;
    int rc = store_pathway_unseal(v->s, key->mv_data, value, &v->buf, &v->cap, &plain_len, &r);
    if (rc == STORE_OK)
        rc = record_pathway_unpack(v->buf, plain_len, &pathway);
    if (rc != STORE_OK)
        return rc;
    int stop = v->fn(pathway, v->ctx);
    parcours__v1__pathway__free_unpacked(pathway, NULL);
    return stop ? 1 : 0;
}

int store_pathway_foreach(store_t *s, store_pathway_fn fn, void *ctx)
{
    if (s == NULL || fn == NULL)
        return STORE_EINVAL;
    pathway_visit_t v = {s, fn, ctx, NULL, 0};
    int rc = store_scan(s, s->pathways, NULL, pathway_visit, &v);
    free(v.buf);
    return rc;
}

int store_log_get(store_t *s, uint64_t seq, store_log_entry_t *entry)
{
    if (s == NULL || entry == NULL)
        return STORE_EINVAL;
    memset(entry, 0, sizeof *entry);
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_val key = {sizeof seq, &seq}, value;
    store_log_entry_t found;
    uint8_t *plain = NULL;
    size_t cap = 0;
    rc = store_error_from_mdb(mdb_get(txn, s->log, &key, &value));
    if (rc == STORE_OK)
        rc = store_log_unseal(s, &key, &value, &plain, &cap, &found, NULL, NULL, NULL);
    if (rc == STORE_OK && found.kind == STORE_LOG_WITHDRAWN) {
        *entry = found;
    } else if (rc == STORE_OK) {
        uint8_t *raw = malloc(found.raw_len > 0 ? found.raw_len : 1);
        if (raw == NULL) {
            rc = STORE_ENOMEM;
        } else {
            if (found.raw_len > 0)
                memcpy(raw, found.raw, found.raw_len);
            found.raw = raw;
            *entry = found;
        }
    }
    store_plain_free(plain, cap);
    store_read_end(s, txn);
    return rc;
}

void store_log_entry_clear(store_log_entry_t *entry)
{
    if (entry == NULL)
        return;
    free((void *)entry->raw);
    memset(entry, 0, sizeof *entry);
}

typedef struct log_visit {
    store_t *s;
    store_log_fn fn;
    void *ctx;
    uint8_t *buf;
    size_t cap;
} log_visit_t;

static int log_visit(const MDB_val *key, const MDB_val *value, void *ctx)
{
    log_visit_t *v = ctx;
    store_log_entry_t entry;
    int rc = store_log_unseal(v->s, key, value, &v->buf, &v->cap, &entry, NULL, NULL, NULL);
    if (rc != STORE_OK)
        return rc;
    return v->fn(&entry, v->ctx) ? 1 : 0;
}

int store_log_foreach(store_t *s, uint64_t from, store_log_fn fn, void *ctx)
{
    if (s == NULL || fn == NULL)
        return STORE_EINVAL;
    log_visit_t v = {s, fn, ctx, NULL, 0};
    MDB_val start = {sizeof from, &from};
    int rc = store_scan(s, s->log, &start, log_visit, &v);
    free(v.buf);
    return rc;
}

int store_dedupe_find(store_t *s, const char *partner_id, const char *event_id, uint64_t *seq)
{
    if (s == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    rc = store_dedupe_read(txn, s->dedupe, partner_id, event_id, seq);
    store_read_end(s, txn);
    return rc;
}

int store_outbox_last(store_t *s, const char *partner_id, uint64_t *partner_seq)
{
    size_t len = store_id_len(partner_id);
    if (s == NULL || len == 0 || partner_seq == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    rc = store_outbox_read_last(txn, s->outbox, partner_id, len, store_durable_seq(s), partner_seq);
    store_read_end(s, txn);
    return rc;
}

typedef struct outbox_visit {
    const char *partner_id;
    size_t partner_len;
    store_outbox_fn fn;
    void *ctx;
} outbox_visit_t;

static int outbox_visit(const MDB_val *key, const MDB_val *value, void *ctx)
{
    outbox_visit_t *v = ctx;
    uint64_t partner_seq, seq;
    /* The partner's entries end at the first key without its prefix. */
    if (!record_outbox_key_match(key->mv_data, key->mv_size, v->partner_id, v->partner_len,
                                 &partner_seq))
        return 1;
    int rc = record_u64_decode(value->mv_data, value->mv_size, &seq);
    if (rc != STORE_OK)
        return rc;
    return v->fn(partner_seq, seq, v->ctx) ? 1 : 0;
}

int store_outbox_foreach(store_t *s, const char *partner_id, uint64_t from, store_outbox_fn fn,
                         void *ctx)
{
    size_t len = store_id_len(partner_id);
    if (s == NULL || len == 0 || fn == NULL)
        return STORE_EINVAL;
    outbox_visit_t v = {partner_id, len, fn, ctx};
    uint8_t buf[RECORD_KEY_MAX];
    MDB_val start = {record_outbox_key(buf, partner_id, len, from), buf};
    return store_scan(s, s->outbox, &start, outbox_visit, &v);
}

int store_cursor_get(store_t *s, const char *partner_id, uint64_t *up_to)
{
    size_t len = store_id_len(partner_id);
    if (s == NULL || len == 0 || up_to == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_val key = {len, (void *)partner_id}, value;
    int mrc = mdb_get(txn, s->cursors, &key, &value);
    *up_to = 0;
    if (mrc == MDB_SUCCESS)
        rc = record_u64_decode(value.mv_data, value.mv_size, up_to);
    else if (mrc != MDB_NOTFOUND)
        rc = store_error_from_mdb(mrc);
    store_read_end(s, txn);
    return rc;
}

int store_log_told_walk(const store_t *s, MDB_txn *txn, uint64_t seq, store_told_walk_fn fn,
                        void *ctx, store_log_entry_t *entry)
{
    MDB_val key = {sizeof seq, &seq}, value;
    int rc = store_error_from_mdb(mdb_get(txn, s->log, &key, &value));
    if (rc != STORE_OK)
        return rc;
    const uint8_t *told, *end;
    size_t n = 0;
    uint8_t *buf = NULL;
    size_t cap = 0;
    rc = store_log_unseal(s, &key, &value, &buf, &cap, entry, &told, &n, &end);
    for (size_t i = 0; rc == STORE_OK && fn != NULL && i < n; i++) {
        record_told_t t;
        rc = record_body_next(&told, end, &t);
        int step = rc == STORE_OK ? fn(&t, ctx) : 0;
        if (step < 0)
            rc = step;
        if (step != 0)
            break;
    }
    /* The body held a person's bytes in clear: gone before the buffer is. */
    if (buf != NULL)
        memset(buf, 0, cap);
    free(buf);
    entry->raw = NULL;
    entry->raw_len = 0;
    return rc;
}

typedef struct told_call {
    store_told_fn fn;
    void *ctx;
} told_call_t;

static int told_call(const record_told_t *t, void *ctx)
{
    told_call_t *c = ctx;
    char id[STORE_ID_MAX + 1];
    memcpy(id, t->partner_id, t->partner_len);
    id[t->partner_len] = '\0';
    int rc = c->fn(id, t->partner_seq, c->ctx);
    return rc < 0 ? rc : rc != 0 ? 1 : 0; /* a STORE_E* error ends the walk as one */
}

int store_log_told_in(const store_t *s, MDB_txn *txn, uint64_t seq, store_told_fn fn, void *ctx)
{
    told_call_t call = {fn, ctx};
    store_log_entry_t entry;
    return store_log_told_walk(s, txn, seq, told_call, &call, &entry);
}

int store_log_told(store_t *s, uint64_t seq, store_told_fn fn, void *ctx)
{
    if (s == NULL || fn == NULL)
        return STORE_EINVAL;
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    rc = store_log_told_in(s, txn, seq, fn, ctx);
    store_read_end(s, txn);
    return rc;
}

int store_retention_survey(store_t *s, int64_t archive_before, int64_t destroy_before,
                           store_survey_t *out, store_due_fn fn, void *ctx)
{
    if (s == NULL || out == NULL)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_cursor *c;
    int mrc = mdb_cursor_open(txn, s->pathways, &c);
    if (mrc != MDB_SUCCESS) {
        store_read_end(s, txn);
        return store_error_from_mdb(mrc);
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    bool listing = fn != NULL;
    MDB_val key, value;
    for (mrc = mdb_cursor_get(c, &key, &value, MDB_FIRST); mrc == MDB_SUCCESS && rc == STORE_OK;
         mrc = mdb_cursor_get(c, &key, &value, MDB_NEXT)) {
        record_pathway2_t r;
        rc = record_pathway2_decode(value.mv_data, value.mv_size, &r);
        if (rc != STORE_OK || key.mv_size != VAULT_HASH_SIZE)
            break;
        if (r.last_contact >= archive_before) {
            out->active++;
        } else if (r.flags & RECORD_PATHWAY_FLAG_HOLD) {
            out->held++;
        } else if (r.last_contact >= destroy_before) {
            out->archived++;
        } else {
            out->due++;
            if (!listing)
                continue;
            /* Only what an admin is shown is unsealed: the ids of the pathways that would go. */
            size_t plain_len;
            record_pathway2_t r2;
            Parcours__V1__Pathway *p = NULL;
            rc = store_pathway_unseal(s, key.mv_data, &value, &buf, &cap, &plain_len, &r2);
            if (rc == STORE_OK)
                rc = record_pathway_unpack(buf, plain_len, &p);
            if (rc == STORE_OK && fn(p->beneficiary_id, r.last_contact, ctx) != 0)
                listing = false;
            if (p != NULL)
                parcours__v1__pathway__free_unpacked(p, NULL);
        }
    }
    if (rc == STORE_OK && mrc != MDB_NOTFOUND && mrc != MDB_SUCCESS)
        rc = store_error_from_mdb(mrc);
    if (buf != NULL)
        memset(buf, 0, cap);
    free(buf);
    mdb_cursor_close(c);
    store_read_end(s, txn);
    return rc;
}

int store_ack_time(store_t *s, const char *partner_id, uint64_t partner_seq, int64_t *at)
{
    size_t len = store_id_len(partner_id);
    if (s == NULL || len == 0 || at == NULL)
        return STORE_EINVAL;
    *at = 0;
    MDB_txn *txn;
    int rc = store_read_begin(s, &txn);
    if (rc != STORE_OK)
        return rc;
    MDB_cursor *c;
    int mrc = mdb_cursor_open(txn, s->acks, &c);
    if (mrc == MDB_SUCCESS) {
        uint8_t buf[RECORD_KEY_MAX];
        MDB_val key = {record_outbox_key(buf, partner_id, len, partner_seq), buf}, value;
        mrc = mdb_cursor_get(c, &key, &value, MDB_SET_RANGE);
        uint64_t up_to, t;
        if (mrc == MDB_SUCCESS &&
            record_outbox_key_match(key.mv_data, key.mv_size, partner_id, len, &up_to) &&
            record_u64_decode(value.mv_data, value.mv_size, &t) == STORE_OK)
            *at = (int64_t)t;
        if (mrc == MDB_NOTFOUND)
            mrc = MDB_SUCCESS;
        mdb_cursor_close(c);
    }
    store_read_end(s, txn);
    return store_error_from_mdb(mrc);
}
