/*
 * keys.h: CURVE key files.
 *
 * A key file holds one key as 40 Z85 characters on a line of its own; lines starting with #
 * are comments. `parcoursctl keygen NAME` writes NAME.secret (mode 0600) and NAME.public.
 */
#ifndef PARCOURS_KEYS_H
#define PARCOURS_KEYS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Reads the key of path into key (32 bytes). With secret, refuses a file that group or others
 * may read. Returns 0, or -1 with err saying why.
 */
int keys_read(const char *path, int secret, uint8_t key[32], char *err, size_t errlen);

#endif
