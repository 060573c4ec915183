/*
 * record.c: the store's keys and values on disk. See record.h for the layouts.
 */
#include "record.h"

#include <string.h>

#define RECORD_FORMAT         1
#define RECORD_LOG_HEADER     20 /* u8 format, u8 reserved, u16 type, i64, i64 */
#define RECORD_PATHWAY_HEADER 5  /* u8 format, u32 packed length */

/* --- Byte order ------------------------------------------------------------------------------ */

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[7 - i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* --- Integers -------------------------------------------------------------------------------- */

void record_u64_encode(uint8_t *out, uint64_t v)
{
    put_le64(out, v);
}

int record_u64_decode(const void *data, size_t len, uint64_t *v)
{
    if (len != 8)
        return STORE_ECORRUPT;
    *v = get_le64(data);
    return STORE_OK;
}

void record_u32_encode(uint8_t *out, uint32_t v)
{
    put_le32(out, v);
}

int record_u32_decode(const void *data, size_t len, uint32_t *v)
{
    if (len != 4)
        return STORE_ECORRUPT;
    *v = get_le32(data);
    return STORE_OK;
}

/* --- Keys of dedupe and outbox --------------------------------------------------------------- */

/* Builds partner_id, 0x00, tail into key (RECORD_KEY_MAX bytes); returns the key length. */
static size_t record_key_build(uint8_t *key, const char *partner_id, size_t partner_len,
                               const void *tail, size_t tail_len)
{
    memcpy(key, partner_id, partner_len);
    key[partner_len] = 0;
    memcpy(key + partner_len + 1, tail, tail_len);
    return partner_len + 1 + tail_len;
}

size_t record_dedupe_key(uint8_t *key, const char *partner_id, size_t partner_len,
                         const char *event_id, size_t event_len)
{
    return record_key_build(key, partner_id, partner_len, event_id, event_len);
}

size_t record_outbox_key(uint8_t *key, const char *partner_id, size_t partner_len,
                         uint64_t partner_seq)
{
    uint8_t tail[8];
    put_be64(tail, partner_seq);
    return record_key_build(key, partner_id, partner_len, tail, sizeof tail);
}

bool record_outbox_key_match(const void *key, size_t key_len, const char *partner_id,
                             size_t partner_len, uint64_t *partner_seq)
{
    const uint8_t *k = key;
    if (key_len != partner_len + 9 || memcmp(k, partner_id, partner_len) != 0 ||
        k[partner_len] != 0)
        return false;
    *partner_seq = get_be64(k + partner_len + 1);
    return true;
}

/* --- Log records ----------------------------------------------------------------------------- */

int record_log_key_decode(const void *key, size_t key_len, uint64_t *seq)
{
    if (key_len != sizeof *seq)
        return STORE_ECORRUPT;
    memcpy(seq, key, sizeof *seq);
    return STORE_OK;
}

size_t record_log_size(size_t raw_len)
{
    return RECORD_LOG_HEADER + raw_len;
}

void record_log_encode(uint8_t *out, Parcours__V1__EventType type, int64_t occurred_at,
                       int64_t committed_at, const uint8_t *raw, size_t raw_len)
{
    out[0] = RECORD_FORMAT;
    out[1] = 0;
    put_le16(out + 2, (uint16_t)type);
    put_le64(out + 4, (uint64_t)occurred_at);
    put_le64(out + 12, (uint64_t)committed_at);
    if (raw_len > 0)
        memcpy(out + RECORD_LOG_HEADER, raw, raw_len);
}

int record_log_decode(const void *key, size_t key_len, const void *value, size_t value_len,
                      store_log_entry_t *entry)
{
    const uint8_t *v = value;
    uint64_t seq;
    if (record_log_key_decode(key, key_len, &seq) != STORE_OK || value_len < RECORD_LOG_HEADER ||
        v[0] != RECORD_FORMAT)
        return STORE_ECORRUPT;
    entry->seq = seq;
    entry->type = (Parcours__V1__EventType)get_le16(v + 2);
    entry->occurred_at = (int64_t)get_le64(v + 4);
    entry->committed_at = (int64_t)get_le64(v + 12);
    entry->raw = v + RECORD_LOG_HEADER;
    entry->raw_len = value_len - RECORD_LOG_HEADER;
    return STORE_OK;
}

/* --- Pathway records ------------------------------------------------------------------------- */

int record_pathway_decode(const void *value, size_t len, record_pathway_t *r)
{
    const uint8_t *v = value;
    if (len < RECORD_PATHWAY_HEADER || v[0] != RECORD_FORMAT)
        return STORE_ECORRUPT;
    size_t packed_len = get_le32(v + 1);
    size_t rest = len - RECORD_PATHWAY_HEADER;
    if (packed_len > rest || (rest - packed_len) % 8 != 0)
        return STORE_ECORRUPT;
    r->packed = v + RECORD_PATHWAY_HEADER;
    r->packed_len = packed_len;
    r->seqs = r->packed + packed_len;
    r->n_seqs = (rest - packed_len) / 8;
    return STORE_OK;
}

uint64_t record_pathway_seq(const record_pathway_t *r, size_t i)
{
    return get_le64(r->seqs + 8 * i);
}

int record_pathway_unpack(const void *value, size_t len, Parcours__V1__Pathway **out)
{
    record_pathway_t record;
    int rc = record_pathway_decode(value, len, &record);
    if (rc != STORE_OK)
        return rc;
    *out = parcours__v1__pathway__unpack(NULL, record.packed_len, record.packed);
    return *out == NULL ? STORE_ECORRUPT : STORE_OK;
}

int record_pathway_size(const Parcours__V1__Pathway *pathway, size_t n_seqs, size_t *packed_len,
                        size_t *record_len)
{
    *packed_len = parcours__v1__pathway__get_packed_size(pathway);
    if (*packed_len > UINT32_MAX)
        return STORE_EINVAL;
    *record_len = RECORD_PATHWAY_HEADER + *packed_len + 8 * n_seqs;
    return STORE_OK;
}

void record_pathway_encode_seqs(uint8_t *out, const Parcours__V1__Pathway *pathway,
                                size_t packed_len, const record_pathway_t *old)
{
    out[0] = RECORD_FORMAT;
    put_le32(out + 1, (uint32_t)packed_len);
    parcours__v1__pathway__pack(pathway, out + RECORD_PATHWAY_HEADER);
    if (old->n_seqs > 0)
        memcpy(out + RECORD_PATHWAY_HEADER + packed_len, old->seqs, 8 * old->n_seqs);
}

void record_pathway_encode(uint8_t *out, const Parcours__V1__Pathway *pathway, size_t packed_len,
                           const record_pathway_t *old, uint64_t seq)
{
    record_pathway_encode_seqs(out, pathway, packed_len, old);
    put_le64(out + RECORD_PATHWAY_HEADER + packed_len + 8 * old->n_seqs, seq);
}

/* --- Schema 3: sealed records ----------------------------------------------------------------- */

void record_log2_header(uint8_t out[RECORD_LOG2_HEADER], uint8_t kind, uint16_t type,
                        int64_t occurred_at, int64_t committed_at, uint32_t slot)
{
    out[0] = RECORD_SEALED_FORMAT;
    out[1] = kind;
    put_le16(out + 2, type);
    put_le64(out + 4, (uint64_t)occurred_at);
    put_le64(out + 12, (uint64_t)committed_at);
    put_le32(out + 20, slot);
}

int record_log2_decode(const void *value, size_t len, record_log2_t *r)
{
    const uint8_t *v = value;
    if (len < RECORD_LOG2_HEADER || v[0] != RECORD_SEALED_FORMAT || v[1] > RECORD_LOG_RETRACTED)
        return STORE_ECORRUPT;
    r->kind = v[1];
    r->type = get_le16(v + 2);
    r->occurred_at = (int64_t)get_le64(v + 4);
    r->committed_at = (int64_t)get_le64(v + 12);
    r->slot = get_le32(v + 20);
    bool tombstone = r->kind == RECORD_LOG_TOMBSTONE;
    if (tombstone != (len == RECORD_LOG2_HEADER) || tombstone != (r->slot == 0))
        return STORE_ECORRUPT;
    r->sealed = tombstone ? NULL : v + RECORD_LOG2_HEADER;
    r->sealed_len = len - RECORD_LOG2_HEADER;
    return STORE_OK;
}

void record_log2_ad(uint8_t out[RECORD_LOG2_AD], uint64_t seq, const uint8_t *header)
{
    put_le64(out, seq);
    memcpy(out + 8, header, RECORD_LOG2_HEADER);
}

size_t record_body_size(size_t raw_len, const record_told_t *told, size_t n)
{
    size_t size = 4 + raw_len + 2;
    for (size_t i = 0; i < n; i++)
        size += 1 + told[i].partner_len + 8;
    return size;
}

void record_body_encode(uint8_t *out, const uint8_t *raw, size_t raw_len, const record_told_t *told,
                        size_t n)
{
    put_le32(out, (uint32_t)raw_len);
    if (raw_len > 0)
        memcpy(out + 4, raw, raw_len);
    out += 4 + raw_len;
    put_le16(out, (uint16_t)n);
    out += 2;
    for (size_t i = 0; i < n; i++) {
        *out++ = (uint8_t)told[i].partner_len;
        memcpy(out, told[i].partner_id, told[i].partner_len);
        out += told[i].partner_len;
        put_le64(out, told[i].partner_seq);
        out += 8;
    }
}

int record_body_decode(const uint8_t *body, size_t len, const uint8_t **raw, size_t *raw_len,
                       const uint8_t **told, size_t *n)
{
    if (len < 6)
        return STORE_ECORRUPT;
    size_t l = get_le32(body);
    if (l > len - 6)
        return STORE_ECORRUPT;
    *raw = body + 4;
    *raw_len = l;
    *n = get_le16(body + 4 + l);
    *told = body + 6 + l;
    /* Every recipient must fit: checked once here, so that record_body_next cannot overrun. */
    const uint8_t *c = *told, *end = body + len;
    for (size_t i = 0; i < *n; i++) {
        record_told_t t;
        if (record_body_next(&c, end, &t) != STORE_OK)
            return STORE_ECORRUPT;
    }
    return c == end ? STORE_OK : STORE_ECORRUPT;
}

int record_body_next(const uint8_t **cursor, const uint8_t *end, record_told_t *out)
{
    const uint8_t *c = *cursor;
    if (c >= end || (size_t)(end - c) < 1u + c[0] + 8u || c[0] == 0 || c[0] > STORE_ID_MAX)
        return STORE_ECORRUPT;
    out->partner_len = c[0];
    out->partner_id = (const char *)c + 1;
    out->partner_seq = get_le64(c + 1 + c[0]);
    *cursor = c + 1 + c[0] + 8;
    return STORE_OK;
}

void record_pathway2_header(uint8_t out[RECORD_PATHWAY2_HEADER], uint8_t flags, uint32_t slot,
                            int64_t last_contact)
{
    out[0] = RECORD_SEALED_FORMAT;
    out[1] = flags;
    out[2] = out[3] = 0;
    put_le32(out + 4, slot);
    put_le64(out + 8, (uint64_t)last_contact);
}

int record_pathway2_decode(const void *value, size_t len, record_pathway2_t *r)
{
    const uint8_t *v = value;
    if (len < RECORD_PATHWAY2_HEADER + 1 || v[0] != RECORD_SEALED_FORMAT)
        return STORE_ECORRUPT;
    r->flags = v[1];
    r->slot = get_le32(v + 4);
    r->last_contact = (int64_t)get_le64(v + 8);
    r->sealed = v + RECORD_PATHWAY2_HEADER;
    r->sealed_len = len - RECORD_PATHWAY2_HEADER;
    return r->slot == 0 ? STORE_ECORRUPT : STORE_OK;
}
