/*
 * erased_register.h: the register of erased persons.
 *
 * An erasure destroys a person in the store; a backup taken before it still holds them. So each
 * erasure appends a line to a file kept outside the data directory ([store] erased_register),
 * which `parcoursd --restore` applies to the restored copy before anyone can read it. A line names
 * the person by the store's keyed hash of their id (store_id_hash), never the id:
 *
 *     <32 hex digits> <erased_at, unix ms> <reason>\n
 *
 * The file is append-only, 0600, fsynced after each line.
 */
#ifndef PARCOURS_ERASED_REGISTER_H
#define PARCOURS_ERASED_REGISTER_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Appends one erasure; 0, or -1 with err saying why. */
int erased_register_append(const char *path, const uint8_t hash[STORE_HASH_SIZE], int64_t erased_at,
                           const char *reason, char *err, size_t errlen);

/* Erases again, in one batch, every person of the register the store holds from before their
 * erasure (store_batch_erase_hash). A missing file is an empty register. *entries counts the
 * register's lines, *erased the persons destroyed now. 0, or -1 with err (file:line for a line
 * that is not one). */
int erased_register_apply(const char *path, store_t *store, int64_t now_ms, size_t *entries,
                          size_t *erased, char *err, size_t errlen);

#endif
