/*
 * jsonwriter.c: compact JSON output with correct string escaping (see jsonwriter.h).
 */
#include "jsonwriter.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#define DEPTH_MAX 32

struct jsonwriter {
    FILE *out;
    int depth;
    bool first[DEPTH_MAX]; /* no member written yet at this level */
    bool after_key;        /* the next value follows a key: no comma */
};

jsonwriter_t *jsonwriter_new(FILE *out)
{
    jsonwriter_t *w = calloc(1, sizeof(*w));
    if (w != NULL)
        w->out = out;
    return w;
}

void jsonwriter_destroy(jsonwriter_t **w)
{
    if (w == NULL || *w == NULL)
        return;
    free(*w);
    *w = NULL;
}

/* Writes the comma a value or key needs before it. */
static void separate(jsonwriter_t *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0 && w->depth <= DEPTH_MAX) {
        if (!w->first[w->depth - 1])
            fputc(',', w->out);
        w->first[w->depth - 1] = false;
    }
}

static void open_container(jsonwriter_t *w, char c)
{
    separate(w);
    fputc(c, w->out);
    if (w->depth < DEPTH_MAX)
        w->first[w->depth] = true;
    w->depth++;
}

static void close_container(jsonwriter_t *w, char c)
{
    if (w->depth > 0)
        w->depth--;
    fputc(c, w->out);
}

void jsonwriter_object_begin(jsonwriter_t *w)
{
    open_container(w, '{');
}

void jsonwriter_object_end(jsonwriter_t *w)
{
    close_container(w, '}');
}

void jsonwriter_array_begin(jsonwriter_t *w)
{
    open_container(w, '[');
}

void jsonwriter_array_end(jsonwriter_t *w)
{
    close_container(w, ']');
}

/* The length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t utf8_length(const unsigned char *s)
{
    size_t n;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
        cp = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        cp = s[0] & 0x0Fu;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0; /* also stops at the NUL */
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    /* Overlong forms, surrogates and code points above U+10FFFF are not UTF-8. */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void jsonwriter_escape(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', out);
    while (*p != '\0') {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
            p++;
        } else if (c < 0x20 || c == 0x7F) {
            switch (c) {
            case '\n':
                fputs("\\n", out);
                break;
            case '\r':
                fputs("\\r", out);
                break;
            case '\t':
                fputs("\\t", out);
                break;
            case '\b':
                fputs("\\b", out);
                break;
            case '\f':
                fputs("\\f", out);
                break;
            default:
                fprintf(out, "\\u%04x", c);
            }
            p++;
        } else {
            size_t n = utf8_length(p);
            if (n == 0) {
                fputs("\\ufffd", out);
                p++;
            } else {
                fwrite(p, 1, n, out);
                p += n;
            }
        }
    }
    fputc('"', out);
}

void jsonwriter_key(jsonwriter_t *w, const char *key)
{
    separate(w);
    jsonwriter_escape(w->out, key);
    fputc(':', w->out);
    w->after_key = true;
}

void jsonwriter_string(jsonwriter_t *w, const char *s)
{
    if (s == NULL) {
        jsonwriter_null(w);
        return;
    }
    separate(w);
    jsonwriter_escape(w->out, s);
}

void jsonwriter_int(jsonwriter_t *w, int64_t v)
{
    separate(w);
    fprintf(w->out, "%" PRId64, v);
}

void jsonwriter_uint(jsonwriter_t *w, uint64_t v)
{
    separate(w);
    fprintf(w->out, "%" PRIu64, v);
}

void jsonwriter_double(jsonwriter_t *w, double v)
{
    if (!isfinite(v)) {
        jsonwriter_null(w);
        return;
    }
    separate(w);
    fprintf(w->out, "%.15g", v); /* figures for people: no 0.30000000000000004 */
}

void jsonwriter_bool(jsonwriter_t *w, bool v)
{
    separate(w);
    fputs(v ? "true" : "false", w->out);
}

void jsonwriter_null(jsonwriter_t *w)
{
    separate(w);
    fputs("null", w->out);
}
