/*
 * test_audit.c: the access journal (common/audit.h): the chain holds, and every way of altering
 * a record is found and named: a changed byte, a removed record, an inserted one, a record cut
 * short; the chain runs on when the daemon opens the journal again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"

typedef struct fixture {
    char dir[64];
    char file[160];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/parcours-test-audit-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(f->file, sizeof f->file, "%s/%04d-%02d.journal", f->dir, tm.tm_year + 1900,
             tm.tm_mon + 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[400];
        snprintf(path, sizeof path, "%s/%s", f->dir, e->d_name);
        if (e->d_name[0] != '.')
            unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_records(const char *dir, int n)
{
    audit_t *a;
    char err[256];
    assert_int_equal(audit_open(dir, 365, &a, err, sizeof err), 0);
    for (int i = 0; i < n; i++) {
        char detail[32];
        snprintf(detail, sizeof detail, "answered %d", i);
        assert_int_equal(audit_append(a, "uid:0 pid:42", "SHOW", "person:0011223344556677", detail,
                                      err, sizeof err),
                         0);
    }
    audit_close(&a);
}

/* The file's text, to change. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc(*len + 1);
    assert_int_equal(fread(s, 1, *len, fp), *len);
    s[*len] = '\0';
    fclose(fp);
    return s;
}

static void spit(const char *path, const char *s, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(s, 1, len, fp), len);
    fclose(fp);
}

/* The start of line n (1-based) of s. */
static char *line_at(char *s, int n)
{
    for (int i = 1; i < n; i++)
        s = strchr(s, '\n') + 1;
    return s;
}

static void verify(const char *dir, bool whole, const char *named)
{
    audit_report_t r;
    char err[256];
    assert_int_equal(audit_verify(dir, &r, err, sizeof err), 0);
    assert_int_equal(r.whole, whole);
    if (named != NULL)
        assert_non_null(strstr(r.first_broken, named));
}

static void test_a_whole_chain_across_reopenings(void **state)
{
    fixture_t *f = *state;
    write_records(f->dir, 3);
    write_records(f->dir, 2); /* the daemon again: the chain runs on */
    audit_report_t r;
    char err[256];
    assert_int_equal(audit_verify(f->dir, &r, err, sizeof err), 0);
    assert_true(r.whole);
    assert_int_equal(r.records, 5);
    size_t len;
    char *s = slurp(f->file, &len);
    assert_non_null(strstr(line_at(s, 5), "5\t")); /* numbered on */
    assert_null(strstr(s, "person-"));             /* subjects are hashes */
    free(s);
}

static void test_a_changed_byte_is_named(void **state)
{
    fixture_t *f = *state;
    write_records(f->dir, 4);
    size_t len;
    char *s = slurp(f->file, &len);
    char *third = line_at(s, 3);
    char *what = strstr(third, "SHOW");
    what[1] = 'N'; /* SHOW -> SNOW in record 3 */
    spit(f->file, s, len);
    free(s);
    verify(f->dir, false, "record 3: its hash does not match");
}

static void test_a_removed_record_is_named(void **state)
{
    fixture_t *f = *state;
    write_records(f->dir, 4);
    size_t len;
    char *s = slurp(f->file, &len);
    char *second = line_at(s, 2), *third = line_at(s, 3);
    memmove(second, third, len - (size_t)(third - s) + 1);
    spit(f->file, s, strlen(s));
    free(s);
    verify(f->dir, false, "record 3: it does not follow");
}

static void test_a_record_made_again_whole_is_still_found(void **state)
{
    /* Whoever rewrites a record and its own hash still breaks the next one's link. */
    fixture_t *f = *state;
    write_records(f->dir, 3);
    size_t len;
    char *s = slurp(f->file, &len);
    char *second = line_at(s, 2);
    char *end = strchr(second, '\n');
    char *last_tab = end - 65;
    assert_int_equal(*last_tab, '\t');
    char *what = strstr(second, "SHOW");
    what[1] = 'N';
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const uint8_t *)second, (size_t)(last_tab - second));
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    memcpy(last_tab + 1, hex, 64);
    spit(f->file, s, len);
    free(s);
    verify(f->dir, false, "record 3: it does not follow");
}

static void test_a_record_cut_short_is_named(void **state)
{
    fixture_t *f = *state;
    write_records(f->dir, 2);
    size_t len;
    char *s = slurp(f->file, &len);
    spit(f->file, s, len - 10);
    free(s);
    verify(f->dir, false, "cut short");
}

/* A record cut short by a crash (never answered) is taken away when the daemon opens the
 * journal again, so that the chain goes on whole. */
static void test_a_record_cut_by_a_crash_is_dropped_at_open(void **state)
{
    fixture_t *f = *state;
    write_records(f->dir, 2);
    FILE *fp = fopen(f->file, "ab");
    assert_non_null(fp);
    fputs("3\t2026-12-01T00:00:00.000Z\tuid:0 pid:1\tSHO", fp);
    fclose(fp);
    verify(f->dir, false, "cut short");
    write_records(f->dir, 1);
    audit_report_t r;
    char err[256];
    assert_int_equal(audit_verify(f->dir, &r, err, sizeof err), 0);
    assert_true(r.whole);
    assert_int_equal(r.records, 3);
}

static void test_fields_cannot_forge_records(void **state)
{
    fixture_t *f = *state;
    audit_t *a;
    char err[256];
    assert_int_equal(audit_open(f->dir, 365, &a, err, sizeof err), 0);
    assert_int_equal(audit_append(a, "x\tSHOW\n2", "A\nB", NULL, "d\te", err, sizeof err), 0);
    audit_close(&a);
    size_t len;
    char *s = slurp(f->file, &len);
    assert_int_equal(strchr(s, '\n') - s + 1, (long)len); /* one line */
    free(s);
    verify(f->dir, true, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_whole_chain_across_reopenings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_changed_byte_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_removed_record_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_record_made_again_whole_is_still_found, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_record_cut_short_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_record_cut_by_a_crash_is_dropped_at_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fields_cannot_forge_records, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
