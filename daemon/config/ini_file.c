/* ini_file.c: libinih with exact line numbers, and all errors collected. */
#include "ini_file.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct ini_reader {
    FILE *file;
    const char *path;
    int line;
    ini_file_fn fn;
    void *ctx;
    char *errors;
    size_t errlen;
    size_t used;
    int n_errors;
    char section[256];
    int section_line; /* the line of the last [section] header read */
} ini_reader_t;

/* libinih reads through this fgets-like function: counting lines here tells the handler
 * the line of the entry being parsed. */
static char *ini_reader_line(char *buf, int size, void *stream)
{
    ini_reader_t *r = stream;
    char *s = fgets(buf, size, r->file);
    if (s == NULL)
        return NULL;
    r->line++;
    const char *c = s;
    while (*c == ' ' || *c == '\t')
        c++;
    if (*c == '[')
        r->section_line = r->line;
    return s;
}

static void ini_reader_error(ini_reader_t *r, const char *message)
{
    r->n_errors++;
    if (r->used >= r->errlen)
        return;
    int n = snprintf(r->errors + r->used, r->errlen - r->used, "%s:%d: %s\n", r->path, r->line,
                     message);
    if (n > 0)
        r->used += (size_t)n < r->errlen - r->used ? (size_t)n : r->errlen - r->used - 1;
}

static int ini_reader_entry(void *user, const char *section, const char *name, const char *value)
{
    ini_reader_t *r = user;
    char err[512] = "";
    /* libinih has no callback for a section header; report the first sight of each. */
    if (strcmp(section, r->section) != 0) {
        snprintf(r->section, sizeof(r->section), "%s", section);
        int entry_line = r->line;
        r->line = r->section_line; /* report the header's own line */
        if (r->fn(r->ctx, r->line, section, NULL, NULL, err, sizeof(err)) != 0)
            ini_reader_error(r, err);
        r->line = entry_line;
        err[0] = '\0';
    }
    if (r->fn(r->ctx, r->line, section, name, value, err, sizeof(err)) != 0)
        ini_reader_error(r, err);
    return 1; /* keep reading: every error is reported, not only the first */
}

int ini_file_parse(const char *path, ini_file_fn fn, void *ctx, char *errors, size_t errlen)
{
    ini_reader_t r = {.path = path, .fn = fn, .ctx = ctx, .errors = errors, .errlen = errlen};
    if (errlen > 0)
        errors[0] = '\0';
    r.file = fopen(path, "r");
    if (r.file == NULL) {
        snprintf(errors, errlen, "%s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = ini_parse_stream(ini_reader_line, &r, ini_reader_entry, &r);
    fclose(r.file);
    if (rc > 0) {
        r.line = rc;
        ini_reader_error(&r, "not an INI line: expected [section], name = value, or a comment");
    }
    return r.n_errors;
}

int ini_file_bool(const char *value, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(value, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(value, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}
