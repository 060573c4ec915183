/*
 * jsonline.c: a recursive-descent parser for one flat JSON object (see jsonline.h).
 *
 * Strings are decoded into one growing buffer per object; members keep offsets into it, since
 * the buffer moves as it grows, and pointers are made only once parsing is over.
 */
#include "jsonline.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct member {
    size_t key, value; /* offsets in text */
    jsonline_kind_t kind;
} member_t;

struct jsonline {
    char *text; /* every decoded key and value, each NUL-terminated */
    size_t text_len, text_cap;
    member_t *members;
    size_t count, cap;
};

typedef struct parser {
    const char *p, *start, *end;
    jsonline_t *o;
    char *err;
    size_t errlen;
} parser_t;

static int fail(parser_t *ps, const char *fmt, ...)
{
    int n = snprintf(ps->err, ps->errlen, "column %zu: ", (size_t)(ps->p - ps->start) + 1);
    if (n > 0 && (size_t)n < ps->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void skip_space(parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r' || *ps->p == '\n'))
        ps->p++;
}

static int put(parser_t *ps, const char *bytes, size_t n)
{
    jsonline_t *o = ps->o;
    if (o->text_len + n > o->text_cap) {
        size_t cap = o->text_cap ? o->text_cap : 128;
        while (cap < o->text_len + n)
            cap *= 2;
        char *text = realloc(o->text, cap);
        if (text == NULL)
            return fail(ps, "out of memory");
        o->text = text;
        o->text_cap = cap;
    }
    memcpy(o->text + o->text_len, bytes, n);
    o->text_len += n;
    return 0;
}

/* Appends a code point as UTF-8. */
static int put_code_point(parser_t *ps, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return put(ps, b, n);
}

static int hex4(parser_t *ps, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++, ps->p++) {
        if (ps->p >= ps->end)
            return fail(ps, "the \\u escape needs 4 hexadecimal digits");
        char c = *ps->p;
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return fail(ps, "the \\u escape needs 4 hexadecimal digits");
        v = v * 16 + (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* Parses a string at ps->p (on its opening quote) into the text buffer; *offset gets its start. */
static int parse_string(parser_t *ps, size_t *offset)
{
    *offset = ps->o->text_len;
    ps->p++; /* the opening quote */
    for (;;) {
        if (ps->p >= ps->end)
            return fail(ps, "the string is not closed");
        char c = *ps->p;
        if (c == '"') {
            ps->p++;
            return put(ps, "", 1);
        }
        if ((unsigned char)c < 0x20)
            return fail(ps, "control characters must be escaped inside strings");
        if (c != '\\') {
            if (put(ps, &c, 1) != 0)
                return -1;
            ps->p++;
            continue;
        }
        ps->p++;
        if (ps->p >= ps->end)
            return fail(ps, "the string is not closed");
        char e = *ps->p++;
        const char *simple = NULL;
        switch (e) {
        case '"':
            simple = "\"";
            break;
        case '\\':
            simple = "\\";
            break;
        case '/':
            simple = "/";
            break;
        case 'b':
            simple = "\b";
            break;
        case 'f':
            simple = "\f";
            break;
        case 'n':
            simple = "\n";
            break;
        case 'r':
            simple = "\r";
            break;
        case 't':
            simple = "\t";
            break;
        case 'u':
            break;
        default:
            ps->p -= 2; /* point at the backslash */
            return fail(ps, "unknown escape \\%c", e);
        }
        if (simple != NULL) {
            if (put(ps, simple, 1) != 0)
                return -1;
            continue;
        }
        uint32_t cp = 0;
        if (hex4(ps, &cp) != 0)
            return -1;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low = 0;
            if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
                return fail(ps, "a high surrogate must be followed by a \\u low surrogate");
            ps->p += 2;
            if (hex4(ps, &low) != 0)
                return -1;
            if (low < 0xDC00 || low > 0xDFFF)
                return fail(ps, "a high surrogate must be followed by a \\u low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return fail(ps, "a low surrogate without its high surrogate");
        } else if (cp == 0) {
            return fail(ps, "\\u0000 is not allowed");
        }
        if (put_code_point(ps, cp) != 0)
            return -1;
    }
}

static bool word_at(parser_t *ps, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, word, n) == 0;
}

/* Parses a value: a string, an integer, true, false or null. */
static int parse_value(parser_t *ps, member_t *m)
{
    if (ps->p >= ps->end)
        return fail(ps, "a value is missing");
    char c = *ps->p;
    if (c == '"') {
        m->kind = JSONLINE_STRING;
        return parse_string(ps, &m->value);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        const char *begin = ps->p;
        if (*ps->p == '-')
            ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return fail(ps, "a digit must follow the minus sign");
        if (*ps->p == '0' && ps->p + 1 < ps->end && ps->p[1] >= '0' && ps->p[1] <= '9')
            return fail(ps, "numbers must not start with 0");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
        if (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E'))
            return fail(ps, "numbers must be integers");
        m->kind = JSONLINE_INTEGER;
        m->value = ps->o->text_len;
        if (put(ps, begin, (size_t)(ps->p - begin)) != 0)
            return -1;
        return put(ps, "", 1);
    }
    static const struct {
        const char *word;
        jsonline_kind_t kind;
    } words[] = {{"true", JSONLINE_TRUE}, {"false", JSONLINE_FALSE}, {"null", JSONLINE_NULL}};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (word_at(ps, words[i].word)) {
            ps->p += strlen(words[i].word);
            m->kind = words[i].kind;
            m->value = ps->o->text_len;
            return put(ps, words[i].word, strlen(words[i].word) + 1);
        }
    }
    if (c == '{' || c == '[')
        return fail(ps, "values must be strings, integers, true, false or null, not nested "
                        "objects or arrays");
    return fail(ps, "a value must be a string, an integer, true, false or null");
}

static int add_member(parser_t *ps, const member_t *m)
{
    jsonline_t *o = ps->o;
    for (size_t i = 0; i < o->count; i++)
        if (strcmp(o->text + o->members[i].key, o->text + m->key) == 0)
            return fail(ps, "the key \"%s\" appears twice", o->text + m->key);
    if (o->count == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 16;
        member_t *members = realloc(o->members, cap * sizeof(*members));
        if (members == NULL)
            return fail(ps, "out of memory");
        o->members = members;
        o->cap = cap;
    }
    o->members[o->count++] = *m;
    return 0;
}

static int parse_object(parser_t *ps)
{
    skip_space(ps);
    if (ps->p >= ps->end || *ps->p != '{')
        return fail(ps, "a line must hold one JSON object, starting with {");
    ps->p++;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return 0;
    }
    for (;;) {
        member_t m;
        skip_space(ps);
        if (ps->p >= ps->end || *ps->p != '"')
            return fail(ps, "a key in double quotes is expected");
        if (parse_string(ps, &m.key) != 0)
            return -1;
        skip_space(ps);
        if (ps->p >= ps->end || *ps->p != ':')
            return fail(ps, "a colon is expected after the key");
        ps->p++;
        skip_space(ps);
        if (parse_value(ps, &m) != 0 || add_member(ps, &m) != 0)
            return -1;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return 0;
        }
        return fail(ps, "a comma or a closing brace is expected");
    }
}

int jsonline_parse(const char *text, size_t len, jsonline_t **out, char *err, size_t errlen)
{
    *out = NULL;
    jsonline_t *o = calloc(1, sizeof(*o));
    parser_t ps = {
        .p = text, .start = text, .end = text + len, .o = o, .err = err, .errlen = errlen};
    if (o == NULL)
        return fail(&ps, "out of memory");
    if (text == NULL)
        ps.start = ps.p = ps.end = "";
    if (parse_object(&ps) != 0) {
        jsonline_destroy(&o);
        return -1;
    }
    skip_space(&ps);
    if (ps.p != ps.end) {
        fail(&ps, "nothing may follow the object on its line");
        jsonline_destroy(&o);
        return -1;
    }
    *out = o;
    return 0;
}

void jsonline_destroy(jsonline_t **o)
{
    if (o == NULL || *o == NULL)
        return;
    free((*o)->text);
    free((*o)->members);
    free(*o);
    *o = NULL;
}

size_t jsonline_count(const jsonline_t *o)
{
    return o->count;
}

const char *jsonline_key(const jsonline_t *o, size_t i)
{
    return o->text + o->members[i].key;
}

jsonline_kind_t jsonline_kind(const jsonline_t *o, size_t i)
{
    return o->members[i].kind;
}

const char *jsonline_value(const jsonline_t *o, size_t i)
{
    return o->text + o->members[i].value;
}

long jsonline_find(const jsonline_t *o, const char *key)
{
    for (size_t i = 0; i < o->count; i++)
        if (strcmp(jsonline_key(o, i), key) == 0)
            return (long)i;
    return -1;
}
