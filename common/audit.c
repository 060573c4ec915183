/* audit.c: the access journal, hash-chained in monthly files (audit.h). */
#include "audit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define AUDIT_LINE_MAX  (8 * AUDIT_FIELD_MAX)

struct audit {
    char dir[4096];
    unsigned keep_days;
    uint64_t n;     /* records so far */
    char last[65];  /* the last record's hash */
    char month[24]; /* the file open now, YYYY-MM, "" for none */
    int fd;
    /* A record that failed could not be cut away: the file may hold a record of an action that
     * was not answered. Nothing more is written (nor answered) until the daemon restarts. */
    bool stuck;
    /* Records come from the loop (admin, reloads) and from the delivery thread (subscriptions):
     * one at a time, so the chain of hashes stays one chain. */
    pthread_mutex_t lock;
};

/* The hash of a record: SHA-256 of its fields but the last, TAB-joined, in hex. */
static void audit_hash(const char *body, size_t len, char out[65])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const uint8_t *)body, len);
    sodium_bin2hex(out, 65, h, sizeof h);
}

static bool audit_is_journal(const char *name)
{
    size_t n = strlen(name);
    return n == 15 && strcmp(name + 7, ".journal") == 0 && name[4] == '-';
}

static int audit_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The journal files of dir, sorted (by month); *n of them, each to free, then the array. */
static char **audit_files(const char *dir, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    size_t cap = 16;
    char **names = malloc(cap * sizeof *names);
    struct dirent *e;
    while (names != NULL && (e = readdir(d)) != NULL) {
        if (!audit_is_journal(e->d_name))
            continue;
        if (*n == cap) {
            char **more = realloc(names, 2 * cap * sizeof *names);
            if (more == NULL)
                break;
            names = more;
            cap *= 2;
        }
        names[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (names != NULL)
        qsort(names, *n, sizeof *names, audit_name_cmp);
    return names;
}

static void audit_files_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Splits a line (its newline removed) into its 8 fields, in place; 0 or -1. */
static int audit_fields(char *line, char *f[8])
{
    for (int i = 0; i < 8; i++) {
        f[i] = line;
        char *tab = strchr(line, '\t');
        if (i < 7) {
            if (tab == NULL)
                return -1;
            *tab = '\0';
            line = tab + 1;
        } else if (tab != NULL) {
            return -1;
        }
    }
    return 0;
}

int audit_verify(const char *dir, audit_report_t *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    size_t n_files;
    char **files = audit_files(dir, &n_files);
    if (files == NULL) {
        snprintf(err, errlen, "journal %s: %s", dir, strerror(errno ? errno : ENOMEM));
        return -1;
    }
    r->whole = true;
    char prev[65] = "";
    uint64_t expect = 0;
    char *line = malloc(AUDIT_LINE_MAX);
    for (size_t i = 0; line != NULL && i < n_files && r->whole; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *fp = fopen(path, "re");
        if (fp == NULL) {
            snprintf(r->first_broken, sizeof r->first_broken, "%s: %s", files[i], strerror(errno));
            r->whole = false;
            break;
        }
        r->files++;
        unsigned lineno = 0;
        while (fgets(line, AUDIT_LINE_MAX, fp) != NULL) {
            lineno++;
            size_t len = strlen(line);
            if (len == 0 || line[len - 1] != '\n') {
                snprintf(r->first_broken, sizeof r->first_broken,
                         "%s line %u: cut short (no end of line)", files[i], lineno);
                r->whole = false;
                break;
            }
            line[len - 1] = '\0';
            /* The hashed part: everything before the last TAB. */
            char *last_tab = strrchr(line, '\t');
            char body_hash[65];
            if (last_tab != NULL)
                audit_hash(line, (size_t)(last_tab - line), body_hash);
            char *f[8];
            if (last_tab == NULL || audit_fields(line, f) != 0) {
                snprintf(r->first_broken, sizeof r->first_broken,
                         "%s line %u: not a journal record", files[i], lineno);
                r->whole = false;
                break;
            }
            uint64_t number = strtoull(f[0], NULL, 10);
            bool first = expect == 0;
            const char *why = NULL;
            if (strcmp(body_hash, f[7]) != 0)
                why = "its hash does not match its fields (the record was changed)";
            else if (!first && strcmp(f[6], prev) != 0)
                why = "it does not follow the record before (one was removed or inserted)";
            else if (!first && number != expect + 1)
                why = "its number does not follow the record before";
            else if (first && i == 0 && number == 1 && strcmp(f[6], AUDIT_ZERO_HASH) != 0)
                why = "the first record names a record before it";
            if (why != NULL) {
                snprintf(r->first_broken, sizeof r->first_broken, "%s line %u, record %s: %s",
                         files[i], lineno, f[0], why);
                r->whole = false;
                break;
            }
            expect = number;
            memcpy(prev, f[7], 65);
            r->records++;
        }
        fclose(fp);
    }
    free(line);
    memcpy(r->last_hash, prev[0] ? prev : AUDIT_ZERO_HASH, 65);
    audit_files_free(files, n_files);
    return 0;
}

/* Truncates path after its last line break, when a record was cut short after it. */
static void audit_drop_partial(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    struct stat st;
    off_t end = fstat(fd, &st) == 0 ? st.st_size : 0, keep = end;
    char c;
    while (keep > 0 && pread(fd, &c, 1, keep - 1) == 1 && c != '\n')
        keep--;
    if (keep < end && ftruncate(fd, keep) == 0)
        fsync(fd);
    close(fd);
}

/* Where the chain stands: the last record of the newest file. */
static int audit_tail(audit_t *a, char *err, size_t errlen)
{
    size_t n;
    char **files = audit_files(a->dir, &n);
    if (files == NULL) {
        snprintf(err, errlen, "journal %s: %s", a->dir, strerror(errno ? errno : ENOMEM));
        return -1;
    }
    memcpy(a->last, AUDIT_ZERO_HASH, 65);
    a->n = 0;
    int rc = 0;
    /* A record cut short by a crash was never answered (its action waited for the fsync): it is
     * taken away, or the next record would be glued to it and break the chain for good. */
    if (n > 0) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", a->dir, files[n - 1]);
        audit_drop_partial(path);
    }
    for (size_t i = n; i > 0 && a->n == 0; i--) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", a->dir, files[i - 1]);
        FILE *fp = fopen(path, "re");
        if (fp == NULL)
            continue;
        char *line = malloc(AUDIT_LINE_MAX), *last = malloc(AUDIT_LINE_MAX);
        if (line != NULL && last != NULL) {
            last[0] = '\0';
            while (fgets(line, AUDIT_LINE_MAX, fp) != NULL)
                if (strchr(line, '\n') != NULL)
                    memcpy(last, line, strlen(line) + 1);
            char *f[8];
            last[strcspn(last, "\n")] = '\0';
            if (last[0] != '\0' && audit_fields(last, f) == 0 && strlen(f[7]) == 64) {
                a->n = strtoull(f[0], NULL, 10);
                memcpy(a->last, f[7], 65);
            }
        }
        free(line);
        free(last);
        fclose(fp);
    }
    audit_files_free(files, n);
    return rc;
}

int audit_open(const char *dir, unsigned keep_days, audit_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "journal: libsodium cannot start");
        return -1;
    }
    audit_t *a = calloc(1, sizeof *a);
    if (a == NULL) {
        snprintf(err, errlen, "journal: out of memory");
        return -1;
    }
    snprintf(a->dir, sizeof a->dir, "%s", dir);
    a->keep_days = keep_days;
    a->fd = -1;
    pthread_mutex_init(&a->lock, NULL);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "journal %s: %s", dir, strerror(errno));
        free(a);
        return -1;
    }
    if (audit_tail(a, err, errlen) != 0) {
        free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void audit_close(audit_t **a)
{
    if (a == NULL || *a == NULL)
        return;
    if ((*a)->fd >= 0)
        close((*a)->fd);
    pthread_mutex_destroy(&(*a)->lock);
    free(*a);
    *a = NULL;
}

/* Deletes the months older than the keep period (whole files). */
static void audit_rotate(audit_t *a, time_t now)
{
    time_t limit = now - (time_t)a->keep_days * 86400;
    struct tm tm;
    gmtime_r(&limit, &tm);
    char oldest[24];
    snprintf(oldest, sizeof oldest, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    size_t n;
    char **files = audit_files(a->dir, &n);
    for (size_t i = 0; files != NULL && i < n; i++) {
        if (strncmp(files[i], oldest, 7) < 0) {
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", a->dir, files[i]);
            unlink(path);
        }
    }
    audit_files_free(files, n);
}

/* Copies a field, every TAB and line break made a space, cut to AUDIT_FIELD_MAX bytes. */
static size_t audit_field(char *out, const char *in)
{
    size_t n = 0;
    for (const char *p = in != NULL && in[0] ? in : "-"; *p && n < AUDIT_FIELD_MAX; p++)
        out[n++] = *p == '\t' || *p == '\n' || *p == '\r' ? ' ' : *p;
    out[n] = '\0';
    return n;
}

static int audit_append_locked(audit_t *a, const char *operator_name, const char *action,
                               const char *subject, const char *detail, char *err, size_t errlen);

int audit_append(audit_t *a, const char *operator_name, const char *action, const char *subject,
                 const char *detail, char *err, size_t errlen)
{
    pthread_mutex_lock(&a->lock);
    int rc = audit_append_locked(a, operator_name, action, subject, detail, err, errlen);
    pthread_mutex_unlock(&a->lock);
    return rc;
}

static int audit_append_locked(audit_t *a, const char *operator_name, const char *action,
                               const char *subject, const char *detail, char *err, size_t errlen)
{
    if (a->stuck) {
        snprintf(err, errlen,
                 "journal: a failed record could not be cut away; restart the "
                 "daemon once the journal's disk is sound");
        return -1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char month[24];
    snprintf(month, sizeof month, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    if (a->fd < 0 || strcmp(month, a->month) != 0) {
        if (a->fd >= 0)
            close(a->fd);
        char path[4400];
        snprintf(path, sizeof path, "%s/%s.journal", a->dir, month);
        a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (a->fd < 0) {
            snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
            return -1;
        }
        memcpy(a->month, month, sizeof month);
        audit_rotate(a, ts.tv_sec);
    }
    char *line = malloc(AUDIT_LINE_MAX);
    if (line == NULL) {
        snprintf(err, errlen, "journal: out of memory");
        return -1;
    }
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    int len = snprintf(line, AUDIT_LINE_MAX, "%" PRIu64 "\t%s.%03ldZ\t", a->n + 1, when,
                       ts.tv_nsec / 1000000);
    const char *fields[] = {operator_name, action, subject, detail};
    for (size_t i = 0; i < 4; i++) {
        len += (int)audit_field(line + len, fields[i]);
        line[len++] = '\t';
    }
    memcpy(line + len, a->last, 64);
    len += 64;
    char hash[65];
    audit_hash(line, (size_t)len, hash);
    line[len++] = '\t';
    memcpy(line + len, hash, 64);
    len += 64;
    line[len++] = '\n';
    /* A record whose write or sync failed was never answered: it is cut away again, so that
     * the file holds no record of an action that did not happen, and the next record chains on
     * the last one that holds. */
    off_t before = lseek(a->fd, 0, SEEK_END);
    int rc =
        before >= 0 && write(a->fd, line, (size_t)len) == len && fdatasync(a->fd) == 0 ? 0 : -1;
    free(line);
    if (rc != 0) {
        int saved = errno;
        if (before >= 0 && ftruncate(a->fd, before) != 0) {
            saved = errno;
            a->stuck = true;
        }
        snprintf(err, errlen, "journal: %s", strerror(saved));
        return -1;
    }
    a->n++;
    memcpy(a->last, hash, 65);
    return 0;
}
