/* erased_register.c: the register of erased persons (erased_register.h). */
#include "erased_register.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int erased_register_append(const char *path, const uint8_t hash[STORE_HASH_SIZE], int64_t erased_at,
                           const char *reason, char *err, size_t errlen)
{
    char line[128];
    int len = 0;
    for (size_t i = 0; i < STORE_HASH_SIZE; i++)
        len += snprintf(line + len, sizeof line - (size_t)len, "%02x", hash[i]);
    len += snprintf(line + len, sizeof line - (size_t)len, " %" PRId64 " %s\n", erased_at, reason);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "erased register %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = write(fd, line, (size_t)len) == len && fsync(fd) == 0 ? 0 : -1;
    int e = errno;
    close(fd);
    if (rc != 0)
        snprintf(err, errlen, "erased register %s: %s", path, strerror(e));
    return rc;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Parses one line into hash and erased_at; 0 or -1. */
static int register_line(const char *line, uint8_t hash[STORE_HASH_SIZE], int64_t *erased_at)
{
    for (size_t i = 0; i < STORE_HASH_SIZE; i++) {
        int hi = hex_digit(line[2 * i]), lo = hi < 0 ? -1 : hex_digit(line[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        hash[i] = (uint8_t)(hi << 4 | lo);
    }
    const char *p = line + 2 * STORE_HASH_SIZE;
    if (*p != ' ')
        return -1;
    char *end;
    errno = 0;
    long long at = strtoll(p + 1, &end, 10);
    if (errno != 0 || end == p + 1 || at < 0 || (*end != ' ' && *end != '\n' && *end != '\0'))
        return -1;
    *erased_at = at;
    return 0;
}

int erased_register_apply(const char *path, store_t *store, int64_t now_ms, size_t *entries,
                          size_t *erased, char *err, size_t errlen)
{
    *entries = *erased = 0;
    FILE *fp = fopen(path, "re");
    if (fp == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "erased register %s: %s", path, strerror(errno));
        return -1;
    }
    store_batch_t *b = NULL;
    int rc = store_batch_begin(store, now_ms, &b);
    if (rc != STORE_OK) {
        fclose(fp);
        snprintf(err, errlen, "erased register: %s", store_strerror(rc));
        return -1;
    }
    char line[256];
    unsigned number = 0;
    int result = 0;
    while (result == 0 && fgets(line, sizeof line, fp) != NULL) {
        number++;
        if (line[0] == '\n' || line[0] == '#')
            continue;
        uint8_t hash[STORE_HASH_SIZE];
        int64_t at;
        if (register_line(line, hash, &at) != 0) {
            snprintf(err, errlen, "%s:%u: not a line of the erased register", path, number);
            result = -1;
            break;
        }
        (*entries)++;
        store_erasure_t out;
        rc = store_batch_erase_hash(b, hash, at, &out);
        if (rc == STORE_OK) {
            (*erased)++;
            parcours__v1__pathway__free_unpacked(out.pathway, NULL);
        } else if (rc != STORE_ENOTFOUND) {
            snprintf(err, errlen, "erased register: %s", store_strerror(rc));
            result = -1;
        }
    }
    fclose(fp);
    if (result != 0) {
        store_batch_abort(&b);
        return -1;
    }
    /* The persons erased again leave deadlines in the index, which is not the store's to know:
     * the next start indexes every pathway again (deadlines_index). */
    rc = *erased > 0 ? store_batch_deadlines_mark_indexed(b, "restored", 8) : STORE_OK;
    if (rc != STORE_OK) {
        snprintf(err, errlen, "erased register: %s", store_strerror(rc));
        store_batch_abort(&b);
        return -1;
    }
    rc = store_batch_commit(&b);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "erased register: %s", store_strerror(rc));
        return -1;
    }
    return 0;
}
