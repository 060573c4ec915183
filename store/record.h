/*
 * record.h: the layouts of the store's keys and values on disk. Internal to store/, not
 * installed: only the store's own files include it.
 *
 * Databases and their records (all integers little-endian unless said otherwise):
 *   log       key u64 seq in native order (MDB_INTEGERKEY, written with MDB_APPEND)
 *             value u8 format (1), u8 reserved (0), u16 type, i64 occurred_at, i64 committed_at,
 *             then the packed Event (schema 2: the canonical encoding of the checked event)
 *   dedupe    key partner_id, 0x00, event_id; value u64 seq
 *   pathways  key beneficiary_id; value u8 format (1), u32 length L, L bytes of a packed
 *             parcours.v1.Pathway, then the beneficiary's seqs as u64, oldest first
 *   outbox    key partner_id, 0x00, partner_seq as u64 BIG-endian, so that a partner's entries
 *             sort by partner_seq; value u64 seq
 *   cursors   key partner_id; value u64 partner_seq
 *   meta      "schema" -> u32, "last_seq" -> u64
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
