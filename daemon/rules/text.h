/*
 * text.h: copying C strings into fixed buffers.
 *
 * snprintf(dst, size, "%s", src) says the same, but parses a format and goes through stdio's
 * machinery for every copy; the ingest copies a few strings per event, so the hot paths use
 * this instead.
 */
#ifndef PARCOURS_TEXT_H
#define PARCOURS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Copies src (NULL reads as "") into dst of size bytes (size > 0), cut to size - 1 bytes and
 * always terminated. Returns false when it had to cut. */
static inline bool text_copy(char *dst, size_t size, const char *src)
{
    size_t len = src != NULL ? strlen(src) : 0;
    bool whole = len < size;
    if (!whole)
        len = size - 1;
    if (len > 0)
        memcpy(dst, src, len);
    dst[len] = '\0';
    return whole;
}

#endif
