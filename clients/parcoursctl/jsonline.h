/*
 * jsonline.h: reads one flat JSON object, the line format of `parcoursctl emit --json`.
 *
 * Accepted: one object whose values are strings, integers, true, false or null, with the
 * standard string escapes (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate pairs included), and
 * nothing after it but white space. Refused, with a sentence naming the column: nested objects,
 * arrays, fractional or exponent numbers, duplicate keys, "\u0000", control characters inside
 * strings, and anything that is not JSON. Keeping to this subset keeps the parser small enough
 * to be certain of.
 */
#ifndef PARCOURSCTL_JSONLINE_H
#define PARCOURSCTL_JSONLINE_H

#include <stddef.h>

/* Room for the error sentences of jsonline_parse(). */
#define JSONLINE_ERROR_MAX 160

typedef enum jsonline_kind {
    JSONLINE_STRING,
    JSONLINE_INTEGER,
    JSONLINE_TRUE,
    JSONLINE_FALSE,
    JSONLINE_NULL,
} jsonline_kind_t;

typedef struct jsonline jsonline_t;

/*
 * Parses len bytes of text (no NUL needed). On success returns 0 and *out is an object the
 * caller owns (jsonline_destroy). On failure returns -1, *out is NULL and err (errlen bytes)
 * receives a sentence starting with "column N:". Out of memory is reported the same way.
 */
int jsonline_parse(const char *text, size_t len, jsonline_t **out, char *err, size_t errlen);

/* Frees an object of jsonline_parse and sets *o to NULL. Takes NULL. */
void jsonline_destroy(jsonline_t **o);

/* The number of members of the object. */
size_t jsonline_count(const jsonline_t *o);

/* The key of member i (i < jsonline_count), decoded; owned by o. */
const char *jsonline_key(const jsonline_t *o, size_t i);

/* The kind of member i's value. */
jsonline_kind_t jsonline_kind(const jsonline_t *o, size_t i);

/* The value of member i as text, owned by o: the decoded string; the integer as written
 * ("-12"); "true", "false" or "null". */
const char *jsonline_value(const jsonline_t *o, size_t i);

/* The index of the member with this key, or -1. */
long jsonline_find(const jsonline_t *o, const char *key);

#endif
