/*
 * record.h: the layouts of the store's keys and values on disk. Internal to store/, not
 * installed: only the store's own files include it.
 *
 * Databases and their records (all integers little-endian unless said otherwise). Schema 3 seals
 * everything personal under the person's vault key (vault.h); "sealed(x)" is vault_seal's nonce,
 * ciphertext of x and tag:
 *   log       key u64 seq in native order (MDB_INTEGERKEY, written with MDB_APPEND)
 *             value u8 format (2), u8 kind (RECORD_LOG_*), u16 type, i64 occurred_at,
 *             i64 committed_at, u32 slot, then sealed(u32 L, L bytes of the packed Event (the
 *             canonical encoding of the checked event) or of an Erasure notice, u16 R, R times
 *             (u8 length, partner id, u64 partner_seq): who was told, at which partner_seq).
 *             A tombstone is the header alone, kind RECORD_LOG_TOMBSTONE and slot 0. A retracted
 *             event is kind RECORD_LOG_RETRACTED: its body has no event (L = 0), only who was
 *             told of it.
 *             Associated data: the seq and the header.
 *   dedupe    key partner_id, 0x00, event_id; value u64 seq
 *   pathways  key the keyed hash of beneficiary_id (VAULT_HASH_SIZE bytes); value u8 format (2),
 *             u8 flags (RECORD_PATHWAY_FLAG_*), u16 reserved, u32 slot, i64 last contact (the
 *             retention clock, in clear so that the purge reads no personal byte),
 *             then sealed(u8 1, u32 length L, L bytes of a packed parcours.v1.Pathway, then the
 *             beneficiary's seqs as u64, oldest first). Associated data: the key.
 *   outbox    key partner_id, 0x00, partner_seq as u64 BIG-endian, so that a partner's entries
 *             sort by partner_seq; value u64 seq
 *   cursors   key partner_id; value u64 partner_seq
 *   acks      key partner_id, 0x00, up_to as u64 BIG-endian (as outbox); value i64 unix ms: the
 *             partner had acknowledged up to up_to by then (a mark a minute at most)
 *   shred     key u32 slot: vault slots a committed destruction must still zero (done right
 *             after the commit, and again at open after a crash); value empty
 *   notices   key u64 seq of an Erasure notice; value u32 slot: the notice's own key, destroyed
 *             once every partner it went to has acknowledged it
 *   meta      "schema" -> u32, "last_seq" -> u64, "vault_next" -> u32 (the next slot to hand
 *             out)
 * The 0x00 separator sorts below every byte of an id, so partner "a" and partner "ab" never
 * interleave: every key of "a" sorts before every key of "ab".
 *
 * Nothing here touches LMDB: a key or a value is a pointer and a length. Encoders write into a
 * buffer the caller sized; decoders check the length and the format byte and return
 * STORE_ECORRUPT for anything else, so that what they hand back can be trusted. Ids are taken
 * with their length, already checked by the caller (1..STORE_ID_MAX bytes).
 */
#ifndef PARCOURS_STORE_RECORD_H
#define PARCOURS_STORE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parcours.pb-c.h"
#include "store.h"

#define RECORD_KEY_MAX (2 * STORE_ID_MAX + 1) /* the longest key: partner, 0x00, event */

/* --- Integers: u64 values (seqs, partner_seqs, cursors, last_seq) and the u32 schema --------- */

/* Writes v as 8 bytes little-endian into out. */
void record_u64_encode(uint8_t *out, uint64_t v);

/* Decodes a u64 value of len bytes at data into *v. STORE_OK, or STORE_ECORRUPT (*v untouched)
 * when len is not 8. */
int record_u64_decode(const void *data, size_t len, uint64_t *v);

/* Writes v as 4 bytes little-endian into out. */
void record_u32_encode(uint8_t *out, uint32_t v);

/* Decodes a u32 value of len bytes at data into *v. STORE_OK, or STORE_ECORRUPT (*v untouched)
 * when len is not 4. */
int record_u32_decode(const void *data, size_t len, uint32_t *v);

/* --- Keys of dedupe and outbox --------------------------------------------------------------- */

/* Builds the dedupe key partner_id, 0x00, event_id into key (RECORD_KEY_MAX bytes); returns its
 * length. */
size_t record_dedupe_key(uint8_t *key, const char *partner_id, size_t partner_len,
                         const char *event_id, size_t event_len);

/* Builds the outbox key partner_id, 0x00, partner_seq (big-endian) into key (RECORD_KEY_MAX
 * bytes); returns its length. partner_seq UINT64_MAX gives the greatest key the partner can
 * have. */
size_t record_outbox_key(uint8_t *key, const char *partner_id, size_t partner_len,
                         uint64_t partner_seq);

/* True when the key_len bytes at key are an outbox key of partner_id, with *partner_seq set;
 * false (a key of another partner) otherwise. */
bool record_outbox_key_match(const void *key, size_t key_len, const char *partner_id,
                             size_t partner_len, uint64_t *partner_seq);

/* --- Log records ----------------------------------------------------------------------------- */

/* Decodes a log key (a u64 seq in native order) into *seq. STORE_OK or STORE_ECORRUPT. */
int record_log_key_decode(const void *key, size_t key_len, uint64_t *seq);

/* The length of the log value holding a raw frame of raw_len bytes. */
size_t record_log_size(size_t raw_len);

/* Writes a log value into out (record_log_size(raw_len) bytes). */
void record_log_encode(uint8_t *out, Parcours__V1__EventType type, int64_t occurred_at,
                       int64_t committed_at, const uint8_t *raw, size_t raw_len);

/* Decodes a log key and value into *entry. entry->raw points into value: valid as long as value
 * is. STORE_OK or STORE_ECORRUPT. */
int record_log_decode(const void *key, size_t key_len, const void *value, size_t value_len,
                      store_log_entry_t *entry);

/* --- Schema 3: sealed records (vault.h) ------------------------------------------------------- */

#define RECORD_SEALED_FORMAT 2
#define RECORD_LOG_EVENT     0 /* a partner's event */
#define RECORD_LOG_ERASURE   1 /* an Erasure notice (raw is a packed parcours.v1.Erasure) */
#define RECORD_LOG_TOMBSTONE 2 /* what is left of a destroyed event: seq, type, dates */
/* What is left of an event its sender retracted: the header, and sealed under the person's key
 * a body with no event but the partners that were told of it (so that an erasure still reaches
 * them); read as a tombstone, destroyed with the person. */
#define RECORD_LOG_RETRACTED        3
#define RECORD_LOG2_HEADER          24
#define RECORD_PATHWAY2_HEADER      16
#define RECORD_PATHWAY_FLAG_HOLD    0x01 /* a litigation hold: retention does not run */
#define RECORD_PATHWAY_FLAG_OPPOSED 0x02 /* the person's opposition: only the law's partners */

typedef struct record_log2 {
    uint8_t kind;
    uint16_t type;
    int64_t occurred_at, committed_at;
    uint32_t slot;
    const uint8_t *sealed; /* NULL for a tombstone */
    size_t sealed_len;
} record_log2_t;

void record_log2_header(uint8_t out[RECORD_LOG2_HEADER], uint8_t kind, uint16_t type,
                        int64_t occurred_at, int64_t committed_at, uint32_t slot);
int record_log2_decode(const void *value, size_t len, record_log2_t *r);

/* The associated data of a log record: seq then the header (RECORD_LOG2_HEADER + 8 bytes). */
#define RECORD_LOG2_AD (RECORD_LOG2_HEADER + 8)
void record_log2_ad(uint8_t out[RECORD_LOG2_AD], uint64_t seq, const uint8_t *header);

/* One recipient of an event as the log's sealed body names it. */
typedef struct record_told {
    const char *partner_id; /* NOT terminated when decoded: partner_len bytes */
    size_t partner_len;
    uint64_t partner_seq;
} record_told_t;

/* Size of a log body holding raw_len bytes and n recipients of the given id lengths. */
size_t record_body_size(size_t raw_len, const record_told_t *told, size_t n);
void record_body_encode(uint8_t *out, const uint8_t *raw, size_t raw_len, const record_told_t *told,
                        size_t n);
/* Decodes a body: *raw and *raw_len point into body; the recipients are read by
 * record_body_told (index i < *n). */
int record_body_decode(const uint8_t *body, size_t len, const uint8_t **raw, size_t *raw_len,
                       const uint8_t **told, size_t *n);
/* Walks the recipients of a decoded body: *cursor starts at the told pointer. */
int record_body_next(const uint8_t **cursor, const uint8_t *end, record_told_t *out);

typedef struct record_pathway2 {
    uint8_t flags;
    uint32_t slot;
    int64_t last_contact; /* the retention clock: the latest of its events' dates (unix ms) */
    const uint8_t *sealed;
    size_t sealed_len;
} record_pathway2_t;

void record_pathway2_header(uint8_t out[RECORD_PATHWAY2_HEADER], uint8_t flags, uint32_t slot,
                            int64_t last_contact);
int record_pathway2_decode(const void *value, size_t len, record_pathway2_t *r);

/* --- Pathway records ------------------------------------------------------------------------- */

/* A pathway record, pointing into the value it was decoded from. */
typedef struct record_pathway {
    const uint8_t *packed;
    size_t packed_len;
    const uint8_t *seqs; /* n_seqs u64 LE */
    size_t n_seqs;
} record_pathway_t;

/* Decodes a pathway value of len bytes into *r, which points into value. STORE_OK or
 * STORE_ECORRUPT. */
int record_pathway_decode(const void *value, size_t len, record_pathway_t *r);

/* The i-th seq (0 the oldest) of a decoded record; i < r->n_seqs. */
uint64_t record_pathway_seq(const record_pathway_t *r, size_t i);

/* Decodes a pathway value and unpacks its Pathway. On STORE_OK the caller owns *out (free it with
 * parcours__v1__pathway__free_unpacked); STORE_ECORRUPT otherwise. */
int record_pathway_unpack(const void *value, size_t len, Parcours__V1__Pathway **out);

/* Sizes the record of pathway with n_seqs seqs: *packed_len is the packed pathway's length,
 * *record_len the whole value's. STORE_EINVAL when the packed pathway is too long for its u32
 * length. */
int record_pathway_size(const Parcours__V1__Pathway *pathway, size_t n_seqs, size_t *packed_len,
                        size_t *record_len);

/* Writes into out (the record_len record_pathway_size gave for old->n_seqs + 1 seqs) the record
 * of pathway, then old's seqs, then seq. old may point into the map but must not overlap out. */
void record_pathway_encode(uint8_t *out, const Parcours__V1__Pathway *pathway, size_t packed_len,
                           const record_pathway_t *old, uint64_t seq);

/* Writes into out (the record_len record_pathway_size gave for old->n_seqs seqs) the record of
 * pathway with old's seqs as they are. */
void record_pathway_encode_seqs(uint8_t *out, const Parcours__V1__Pathway *pathway,
                                size_t packed_len, const record_pathway_t *old);

#endif
