/*
 * vault.h: the keys that make destruction real. Internal to store/, not installed.
 *
 * LMDB does not clear what it frees: a deleted value stays in free pages, in the unused middle of
 * live pages and in recycled page buffers, and a compacting copy carries some of it along. So no
 * personal byte is ever written to data.mdb in clear. Each person (each pathway) has a key of its
 * own, a slot of the vault file DIR/keys.vault, and everything the store holds about the person
 * (the pathway record, the payload of each of their events with its recipients) is sealed with it
 * (AES-256-GCM where the processor has AES-NI, XChaCha20-Poly1305 otherwise; libsodium; random
 * nonces, drawn from a ChaCha20 stream keyed at random at open). Destroying a person is overwriting
 * their slot with zeros in place and syncing: whatever copies of the sealed bytes LMDB left behind
 * can no longer be read. LMDB keys that would name a person (a pathway's beneficiary id) are keyed
 * hashes under the vault's store key instead.
 *
 * The file: a 4096-byte header ("PARCOURS-VAULT", version, slot size, the 32-byte store key), then
 * 32-byte slots numbered from 1. Slots are generated ahead, VAULT_CHUNK at a time, written and
 * synced before any is handed out, so that a batch never waits for the vault's sync; which slot
 * comes next is the store's (meta "vault_next", committed with the batch that takes it). A slot of
 * zeros is a destroyed key.
 *
 * Threads: the store's writing thread seals, reserves and destroys; any thread may unseal and
 * hash at the same time, since the file is mapped once, at open, with room to grow in place
 * (vault.c, VAULT_MAP_RESERVE), and the slot count is read atomically. vault_fd() may be read
 * (pread) by a copying thread.
 */
#ifndef PARCOURS_STORE_VAULT_H
#define PARCOURS_STORE_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VAULT_KEY_SIZE    32
#define VAULT_HASH_SIZE   16 /* a keyed hash naming a person in LMDB keys and the register */
#define VAULT_HEADER_SIZE 4096
#define VAULT_CHUNK       4096 /* slots generated at a time */

typedef struct vault vault_t;

/* Opens DIR/keys.vault, creating it (0600, a new random store key) when missing and create is
 * true. STORE_OK, STORE_ENOTFOUND (missing and !create), STORE_ECORRUPT (not a vault),
 * STORE_EACCESS, STORE_EIO, STORE_ENOMEM. durable: sync what is written. */
int vault_open(const char *dir, bool create, bool durable, vault_t **out);

/* Unmaps, closes and frees; sets *v to NULL. Takes NULL. */
void vault_close(vault_t **v);

/* The number of slots the file holds (generated), 1..vault_slots(v) being valid slot numbers. */
uint32_t vault_slots(const vault_t *v);

/* Makes sure slot `slot` exists, generating chunks of random keys (synced) as needed. */
int vault_reserve(vault_t *v, uint32_t slot);

/* Overwrites the n slots with zeros in place and syncs the file. Slots out of range are skipped. */
int vault_destroy(vault_t *v, const uint32_t *slots, size_t n);

/* The keyed hash (SipHash-2-4 with a 128-bit output, under a key derived from the store key) of
 * an identifier: what LMDB keys carry. */
void vault_hash(const vault_t *v, const void *id, size_t len, uint8_t out[VAULT_HASH_SIZE]);

/* The length of what vault_seal writes for len bytes: an algorithm byte, the nonce, the
 * ciphertext (len bytes) and the tag. */
size_t vault_sealed_len(const vault_t *v, size_t len);

/* Seals len bytes of plain under slot's key, ad (associated data: where the record lives) bound
 * to it, into out (vault_sealed_len bytes). STORE_ENOTFOUND when the slot is not in the file.
 * The store never seals under a destroyed key: it seals only for records it keeps. */
int vault_seal(vault_t *v, uint32_t slot, const void *ad, size_t ad_len, const uint8_t *plain,
               size_t len, uint8_t *out);

/* Opens what vault_seal wrote (sealed_len bytes) into out (room for sealed_len bytes); *len is
 * the plain length. STORE_ENOTFOUND when the key was destroyed; STORE_ECORRUPT when the bytes do
 * not authenticate. */
int vault_unseal(const vault_t *v, uint32_t slot, const void *ad, size_t ad_len,
                 const uint8_t *sealed, size_t sealed_len, uint8_t *out, size_t *len);

/* The open file, for a copy (pread only), and its size now. */
int vault_fd(const vault_t *v);
uint64_t vault_size(const vault_t *v);

#endif
