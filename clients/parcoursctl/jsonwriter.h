/*
 * jsonwriter.h: writes JSON to a stream, one value at a time, commas and escaping handled.
 *
 *     jsonwriter_t *w = jsonwriter_new(stdout);
 *     jsonwriter_object_begin(w);
 *     jsonwriter_key(w, "status");
 *     jsonwriter_string(w, "ACCEPTED");
 *     jsonwriter_object_end(w);   // {"status":"ACCEPTED"}
 *     jsonwriter_destroy(&w);
 *
 * Output is compact, on one line; the caller writes the newline. Strings are escaped as RFC 8259
 * requires, and bytes that are not valid UTF-8 become U+FFFD, so the output is always valid
 * JSON whatever the daemon sent. Calls in the wrong order (a value where a key is due) are not
 * detected: the writer is for code, not for input.
 */
#ifndef PARCOURSCTL_JSONWRITER_H
#define PARCOURSCTL_JSONWRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct jsonwriter jsonwriter_t;

/* A writer on out (not owned: the caller closes it). Returns NULL when out of memory. */
jsonwriter_t *jsonwriter_new(FILE *out);

/* Frees the writer (it does not close its stream) and sets *w to NULL. Takes NULL. */
void jsonwriter_destroy(jsonwriter_t **w);

/* Containers nest up to 32 levels; deeper ones are written without separators. */
void jsonwriter_object_begin(jsonwriter_t *w);
void jsonwriter_object_end(jsonwriter_t *w);
void jsonwriter_array_begin(jsonwriter_t *w);
void jsonwriter_array_end(jsonwriter_t *w);

/* The key of the next member of the current object. */
void jsonwriter_key(jsonwriter_t *w, const char *key);

/* Values. A NULL string is written as null; a non-finite double as null. */
void jsonwriter_string(jsonwriter_t *w, const char *s);
void jsonwriter_int(jsonwriter_t *w, int64_t v);
void jsonwriter_uint(jsonwriter_t *w, uint64_t v);
void jsonwriter_double(jsonwriter_t *w, double v);
void jsonwriter_bool(jsonwriter_t *w, bool v);
void jsonwriter_null(jsonwriter_t *w);

/* Writes s as a JSON string literal (quotes included) to out: the escaping of this module, for
 * callers that write JSON by hand. */
void jsonwriter_escape(FILE *out, const char *s);

#endif
