/*
 * ini_file.h: reading an INI file with libinih, with the line number of every entry.
 *
 * Both the configuration and the partners file are INI. Their errors must name file:line, and
 * libinih only reports the first failing line; reading the file through our own line reader
 * gives the handler the exact line of every entry, so every error can be reported.
 */
#ifndef PARCOURS_INI_FILE_H
#define PARCOURS_INI_FILE_H

#include <stddef.h>

/* Called for each entry; returns 0 when the entry is fine, -1 after writing err (errlen bytes).
 * A section header alone is reported with name == NULL and value == NULL. */
typedef int (*ini_file_fn)(void *ctx, int line, const char *section, const char *name,
                           const char *value, char *err, size_t errlen);

/*
 * Reads path and calls fn for each entry. Every error is written to errors as
 * "path:line: message\n" lines (truncated to errlen). Returns the number of errors (0 when the
 * file is fine), or -1 when the file cannot be opened (errors says why).
 */
int ini_file_parse(const char *path, ini_file_fn fn, void *ctx, char *errors, size_t errlen);

/* Parses yes/no/true/false/on/off/1/0 into *out; -1 when it is none of them. */
int ini_file_bool(const char *value, int *out);

#endif
