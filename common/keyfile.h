/*
 * keyfile.h: reading CURVE key files, one reader for the daemon and the clients.
 *
 * A key file holds one key as KEYFILE_Z85_LENGTH Z85 characters, the first word of the first
 * line that is neither blank nor a comment (a line whose first non-blank character is '#');
 * CRLF line ends are read as LF. `parcoursctl keygen NAME` writes NAME.secret (mode 0600) and
 * NAME.public in this format. parcoursd reads its secret key with it ([security] secret_key),
 * libparcours' parcours_keys_read() and thus parcoursctl every key they use.
 *
 * The file is opened first and everything is checked on the open descriptor: a check of the
 * path followed by an open could look at two different files, should the path be swapped in
 * between.
 */
#ifndef PARCOURS_COMMON_KEYFILE_H
#define PARCOURS_COMMON_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYFILE_KEY_SIZE   32   /* bytes of a raw CURVE key */
#define KEYFILE_Z85_LENGTH 40   /* characters of a key in Z85 */
#define KEYFILE_READ_MAX   4096 /* the key must lie within the file's first bytes */

/* What keyfile_read() returns. Every refusal is negative, so that `!= 0` tests failure. */
#define KEYFILE_OK    0
#define KEYFILE_EFILE (-1) /* cannot be opened or read, or is not a regular file: see errno */
#define KEYFILE_EMODE (-2) /* a secret key that group or others may read */
#define KEYFILE_EKEY  (-3) /* no key of KEYFILE_Z85_LENGTH Z85 characters where it must be */

/*
 * Reads the key of the file at path into key (KEYFILE_KEY_SIZE bytes, written only on
 * success). With secret, refuses a file whose mode gives group or others any right (mode & 077).
 * The file is opened without blocking, so that a FIFO put in a key's place is refused rather than
 * hanging the caller, and it is refused too when it is a directory, a device or anything but a
 * regular file. Copies of the key made while reading are wiped before returning.
 *
 * path and key must not be NULL, and are used during the call only. err (err_size bytes; may be
 * NULL when err_size is 0) receives, on failure, a sentence that starts with the path: "PATH: not a
 * regular file", "PATH: a secret key must be readable by its owner only (chmod 600)", "PATH: no
 * key of 40 Z85 characters found" or "PATH: " and strerror; it is cut to err_size.
 *
 * Returns KEYFILE_OK; KEYFILE_EFILE, with errno saying why (ENOENT, EACCES... from open(),
 * EISDIR for a directory, EINVAL for another file that is not regular); KEYFILE_EMODE; or
 * KEYFILE_EKEY. Never logs. Thread-safe.
 */
int keyfile_read(const char *path, bool secret, uint8_t key[KEYFILE_KEY_SIZE], char *err,
                 size_t err_size);

/* Clears n bytes at p that held a key or its text, in a way the compiler cannot drop as dead
 * stores. Takes NULL with n == 0. */
void keyfile_wipe(void *p, size_t n);

#endif
