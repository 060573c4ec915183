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

/* Copies src into dst of size bytes (size > 0) with every occurrence of needle (not empty)
 * replaced by replacement, cut to size - 1 bytes and always terminated: a sentence told to a
 * partner, made fit for a log that may not name whom it is about. */
static inline void text_replace(char *dst, size_t size, const char *src, const char *needle,
                                const char *replacement)
{
    size_t n = strlen(needle), r = strlen(replacement), at = 0;
    while (*src != '\0' && at + 1 < size) {
        if (n > 0 && strncmp(src, needle, n) == 0) {
            for (size_t i = 0; i < r && at + 1 < size; i++)
                dst[at++] = replacement[i];
            src += n;
        } else {
            dst[at++] = *src++;
        }
    }
    dst[at] = '\0';
}

#endif
