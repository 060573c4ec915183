/*
 * test_common.c: the rules the daemon and the clients share (common/): the identifier rule,
 * the key file reader and protobuf-c's layout as pbwalk reads it.
 *
 * Each is checked against something other than its own code: the identifier rule byte by byte
 * over every byte value, the key file reader on real files (a FIFO and a folder among them)
 * and against the keys libzmq makes, pbwalk against the messages protobuf-c itself unpacks.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "clock.h"
#include "identifier.h"
#include "keyfile.h"
#include "parcours.pb-c.h"
#include "pbwalk.h"

/* ------------------------------------------------------------------------------------------ */
/* identifier_valid */

/* The rule as the contract words it, written again independently of identifier.c. */
static bool byte_allowed(int c)
{
    return strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-", c) !=
               NULL &&
           c != '\0';
}

static void test_identifier_lengths(void **state)
{
    (void)state;
    char id[IDENTIFIER_MAX + 2];
    assert_false(identifier_valid(""));
    assert_false(identifier_valid(NULL));
    assert_true(identifier_valid("a"));
    for (size_t n = 1; n <= IDENTIFIER_MAX + 1; n++) {
        memset(id, 'x', n);
        id[n] = '\0';
        if (n <= IDENTIFIER_MAX)
            assert_true(identifier_valid(id));
        else
            assert_false(identifier_valid(id));
    }
    /* The limit is the contract's: 64 bytes, and the sentence that refuses says so. */
    assert_int_equal(IDENTIFIER_MAX, 64);
    assert_non_null(strstr(IDENTIFIER_RULE, "1 to 64"));
}

static void test_identifier_every_byte(void **state)
{
    (void)state;
    /* Every byte value alone, and in the middle and at either end of an otherwise good id, so
     * that a rule checking only the first or the last byte is caught. */
    for (int c = 1; c < 256; c++) {
        char alone[2] = {(char)c, '\0'};
        char middle[4] = {'a', (char)c, 'b', '\0'};
        char first[3] = {(char)c, 'z', '\0'};
        char last[3] = {'Z', (char)c, '\0'};
        bool expected = byte_allowed(c);
        if (identifier_valid(alone) != expected || identifier_valid(middle) != expected ||
            identifier_valid(first) != expected || identifier_valid(last) != expected)
            fail_msg("byte 0x%02x: expected %s", c, expected ? "allowed" : "refused");
    }
    /* Each class of the rule, whole. */
    assert_true(identifier_valid("abcdefghijklmnopqrstuvwxyz"));
    assert_true(identifier_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
    assert_true(identifier_valid("0123456789"));
    assert_true(identifier_valid("._:-"));
    assert_true(identifier_valid("01HZX3K9P2QF7T5W8Y"));
    assert_true(identifier_valid("93:ml93-v2.0_x"));
    /* Beside the ASCII classes: the neighbours of each range, and UTF-8. */
    const char *refused[] = {"a b", "a/b", "a\\b", "a\tb",        "a\nb", "a+b",  "a@b", "a`b",
                             "a[b", "a{b", "a,b",  "caf\xc3\xa9", "\x80", "\xff", "a;b", "a=b"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        assert_false(identifier_valid(refused[i]));
}

static void test_identifier_reads_no_further_than_the_limit(void **state)
{
    (void)state;
    /* A C string cannot hold a NUL inside: what follows one is not part of the string, which
     * is why daemon/wire.c refuses such fields as bytes before this rule sees them. */
    assert_true(identifier_valid("ab\0 not read"));
    /* An unterminated buffer of IDENTIFIER_MAX + 1 bytes is read no further (AddressSanitizer
     * reports a read past the heap block). */
    char *buf = malloc(IDENTIFIER_MAX + 1);
    assert_non_null(buf);
    memset(buf, 'a', IDENTIFIER_MAX + 1);
    assert_false(identifier_valid(buf));
    free(buf);
}

/* ------------------------------------------------------------------------------------------ */
/* clock */

static void test_clock(void **state)
{
    (void)state;
    int64_t a = clock_monotonic_ms();
    int64_t b = clock_monotonic_ms();
    assert_true(b >= a);
    /* The monotonic clock counts from boot, not from 1970: far below any date since 2020. */
    assert_true(b < INT64_C(1577836800000));
    /* Unix milliseconds: after 2020-01-01 and before 2100-01-01. */
    int64_t now = clock_realtime_ms();
    assert_true(now > INT64_C(1577836800000));
    assert_true(now < INT64_C(4102444800000));
    int64_t off = clock_realtime_ms() / 1000 - (int64_t)time(NULL);
    assert_true(off >= -1 && off <= 1);
}

/* ------------------------------------------------------------------------------------------ */
/* keyfile_read */

typedef struct keys_fixture {
    char dir[64];
    char secret_z85[KEYFILE_Z85_LENGTH + 1];
    uint8_t secret_raw[KEYFILE_KEY_SIZE];
} keys_fixture_t;

static int keys_setup(void **state)
{
    keys_fixture_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/parcours-test-common-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    char public_z85[KEYFILE_Z85_LENGTH + 1];
    /* A key starting with # would read as a comment: keygen never writes one. */
    do {
        if (zmq_curve_keypair(public_z85, f->secret_z85) != 0)
            return -1;
    } while (f->secret_z85[0] == '#');
    if (zmq_z85_decode(f->secret_raw, f->secret_z85) == NULL)
        return -1;
    *state = f;
    return 0;
}

static int keys_teardown(void **state)
{
    keys_fixture_t *f = *state;
    char command[128];
    snprintf(command, sizeof(command), "rm -rf '%s'", f->dir);
    int rc = system(command);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* Writes text to dir/name with exactly mode; the path into path. */
static void key_file_write(const keys_fixture_t *f, const char *name, const char *text, mode_t mode,
                           char *path, size_t size)
{
    snprintf(path, size, "%s/%s", f->dir, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

/* The answer of keyfile_read on path, with the key buffer filled with 0xAA first and checked
 * untouched on failure. */
static int key_read(const char *path, bool secret, uint8_t key[KEYFILE_KEY_SIZE], char *err,
                    size_t err_size)
{
    memset(key, 0xAA, KEYFILE_KEY_SIZE);
    int rc = keyfile_read(path, secret, key, err, err_size);
    if (rc != KEYFILE_OK)
        for (size_t i = 0; i < KEYFILE_KEY_SIZE; i++)
            assert_int_equal(key[i], 0xAA);
    return rc;
}

static void test_keyfile_good(void **state)
{
    keys_fixture_t *f = *state;
    char text[512], path[256], err[512];
    uint8_t key[KEYFILE_KEY_SIZE];

    /* As keygen writes it. */
    snprintf(text, sizeof(text), "%s\n", f->secret_z85);
    key_file_write(f, "bare.secret", text, 0600, path, sizeof(path));
    assert_int_equal(key_read(path, true, key, err, sizeof(err)), KEYFILE_OK);
    assert_memory_equal(key, f->secret_raw, KEYFILE_KEY_SIZE);
    assert_string_equal(err, "");

    /* Comments first (one indented), blank lines, the key indented and followed by words. */
    snprintf(text, sizeof(text),
             "# CURVE secret key of ml93\n\n   # another comment\n\t\n  %s trailing words\n",
             f->secret_z85);
    key_file_write(f, "comments.secret", text, 0600, path, sizeof(path));
    assert_int_equal(key_read(path, true, key, err, sizeof(err)), KEYFILE_OK);
    assert_memory_equal(key, f->secret_raw, KEYFILE_KEY_SIZE);

    /* CRLF line ends, as an editor elsewhere may leave them; no newline at the end. */
    snprintf(text, sizeof(text), "# made elsewhere\r\n\r\n%s", f->secret_z85);
    key_file_write(f, "crlf.secret", text, 0600, path, sizeof(path));
    assert_int_equal(key_read(path, true, key, err, sizeof(err)), KEYFILE_OK);
    assert_memory_equal(key, f->secret_raw, KEYFILE_KEY_SIZE);

    /* A long comment line: read whole, not cut into a line that would look like a key. */
    memset(text, 'c', 300);
    text[0] = '#';
    snprintf(text + 300, sizeof(text) - 300, "\n%s\n", f->secret_z85);
    key_file_write(f, "long.secret", text, 0600, path, sizeof(path));
    assert_int_equal(key_read(path, true, key, err, sizeof(err)), KEYFILE_OK);
    assert_memory_equal(key, f->secret_raw, KEYFILE_KEY_SIZE);

    /* A public key may be read by anyone; a secret read as public is not checked for mode. */
    key_file_write(f, "world.public", text, 0644, path, sizeof(path));
    assert_int_equal(key_read(path, false, key, err, sizeof(err)), KEYFILE_OK);
    assert_memory_equal(key, f->secret_raw, KEYFILE_KEY_SIZE);
    /* err may be NULL. */
    assert_int_equal(key_read(path, false, key, NULL, 0), KEYFILE_OK);
}

static void test_keyfile_secret_mode(void **state)
{
    keys_fixture_t *f = *state;
    char text[128], path[256], err[512], expected[512];
    uint8_t key[KEYFILE_KEY_SIZE];
    snprintf(text, sizeof(text), "%s\n", f->secret_z85);
    /* Any right of group or others, one bit at a time. */
    const mode_t loose[] = {0640, 0620, 0610, 0604, 0602, 0601, 0644, 0666};
    for (size_t i = 0; i < sizeof(loose) / sizeof(loose[0]); i++) {
        key_file_write(f, "loose.secret", text, loose[i], path, sizeof(path));
        err[0] = 'x';
        if (key_read(path, true, key, err, sizeof(err)) != KEYFILE_EMODE)
            fail_msg("mode %o taken for a secret key", (unsigned)loose[i]);
        snprintf(expected, sizeof(expected),
                 "%s: a secret key must be readable by its owner only (chmod 600)", path);
        assert_string_equal(err, expected);
        /* The same file as a public key is fine. */
        assert_int_equal(key_read(path, false, key, err, sizeof(err)), KEYFILE_OK);
    }
    /* Owner-only modes other than 0600 are owner-only too. */
    key_file_write(f, "owner.secret", text, 0400, path, sizeof(path));
    assert_int_equal(key_read(path, true, key, err, sizeof(err)), KEYFILE_OK);
}

static void test_keyfile_not_a_regular_file(void **state)
{
    keys_fixture_t *f = *state;
    char path[256], err[512], expected[512];
    uint8_t key[KEYFILE_KEY_SIZE];

    /* A folder: opened (O_RDONLY opens one), then refused by its type. */
    snprintf(path, sizeof(path), "%s/folder.secret", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    errno = 0;
    assert_int_equal(key_read(path, true, key, err, sizeof(err)), KEYFILE_EFILE);
    assert_int_equal(errno, EISDIR);
    snprintf(expected, sizeof(expected), "%s: not a regular file", path);
    assert_string_equal(err, expected);

    /* A FIFO with no writer: the open must not wait for one. Should it, the alarm ends the
     * test instead of the test's timeout. */
    snprintf(path, sizeof(path), "%s/fifo.secret", f->dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(10);
    errno = 0;
    assert_int_equal(key_read(path, true, key, err, sizeof(err)), KEYFILE_EFILE);
    alarm(0);
    assert_int_equal(errno, EINVAL);
    snprintf(expected, sizeof(expected), "%s: not a regular file", path);
    assert_string_equal(err, expected);

    /* A character device. */
    errno = 0;
    assert_int_equal(key_read("/dev/null", false, key, err, sizeof(err)), KEYFILE_EFILE);
    assert_int_equal(errno, EINVAL);
    assert_string_equal(err, "/dev/null: not a regular file");
}

static void test_keyfile_missing(void **state)
{
    keys_fixture_t *f = *state;
    char path[256], err[512], expected[512];
    uint8_t key[KEYFILE_KEY_SIZE];
    snprintf(path, sizeof(path), "%s/missing.secret", f->dir);
    errno = 0;
    assert_int_equal(key_read(path, true, key, err, sizeof(err)), KEYFILE_EFILE);
    assert_int_equal(errno, ENOENT);
    snprintf(expected, sizeof(expected), "%s: %s", path, strerror(ENOENT));
    assert_string_equal(err, expected);

    /* A sentence longer than the buffer is cut, and terminated; the buffer is a heap block of
     * its exact size, so that AddressSanitizer reports any byte written past it. */
    char *small = malloc(8);
    assert_non_null(small);
    assert_int_equal(key_read(path, true, key, small, 8), KEYFILE_EFILE);
    assert_int_equal(strlen(small), 7);
    assert_memory_equal(small, path, 7);
    free(small);
    /* Cut in the middle of the sentence rather than of the path. */
    size_t cut = strlen(path) + 6;
    small = malloc(cut);
    assert_non_null(small);
    assert_int_equal(key_read(path, true, key, small, cut), KEYFILE_EFILE);
    assert_int_equal(strlen(small), cut - 1);
    assert_memory_equal(small, expected, cut - 1);
    free(small);
}

static void test_keyfile_no_key(void **state)
{
    keys_fixture_t *f = *state;
    char path[256], err[512], expected[512], text[KEYFILE_READ_MAX + 128];
    uint8_t key[KEYFILE_KEY_SIZE];
    char short_key[KEYFILE_Z85_LENGTH], long_key[KEYFILE_Z85_LENGTH + 2];
    memcpy(short_key, f->secret_z85, KEYFILE_Z85_LENGTH - 1);
    short_key[KEYFILE_Z85_LENGTH - 1] = '\0';
    snprintf(long_key, sizeof(long_key), "%sA", f->secret_z85);
    char bad_char[KEYFILE_Z85_LENGTH + 1];
    memcpy(bad_char, f->secret_z85, sizeof(bad_char));
    bad_char[20] = '"'; /* not a Z85 character */

    const char *bodies[] = {"",       "\n\n",  "# only a comment\n", "abc\n", short_key,
                            long_key, bad_char};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        snprintf(text, sizeof(text), "# a comment\n%s\n", bodies[i]);
        key_file_write(f, "bad.public", text, 0644, path, sizeof(path));
        if (key_read(path, false, key, err, sizeof(err)) != KEYFILE_EKEY)
            fail_msg("body %zu taken for a key", i);
        snprintf(expected, sizeof(expected), "%s: no key of 40 Z85 characters found", path);
        assert_string_equal(err, expected);
    }
    /* Only the first line that is not a comment counts: a good key after a bad one is not
     * looked for. */
    snprintf(text, sizeof(text), "%s\n%s\n", short_key, f->secret_z85);
    key_file_write(f, "two.public", text, 0644, path, sizeof(path));
    assert_int_equal(key_read(path, false, key, err, sizeof(err)), KEYFILE_EKEY);

    /* The key must lie within the first KEYFILE_READ_MAX bytes. */
    memset(text, '#', KEYFILE_READ_MAX);
    text[KEYFILE_READ_MAX - 1] = '\n';
    snprintf(text + KEYFILE_READ_MAX, sizeof(text) - KEYFILE_READ_MAX, "%s\n", f->secret_z85);
    key_file_write(f, "far.public", text, 0644, path, sizeof(path));
    assert_int_equal(key_read(path, false, key, err, sizeof(err)), KEYFILE_EKEY);
}

static void test_keyfile_wipe(void **state)
{
    (void)state;
    uint8_t b[16];
    memset(b, 0x5A, sizeof(b));
    keyfile_wipe(b, sizeof(b) - 1);
    for (size_t i = 0; i + 1 < sizeof(b); i++)
        assert_int_equal(b[i], 0);
    assert_int_equal(b[sizeof(b) - 1], 0x5A);
    keyfile_wipe(NULL, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* pbwalk */

static const ProtobufCFieldDescriptor *field_named(const ProtobufCMessageDescriptor *d,
                                                   const char *name)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);
    assert_non_null(f);
    return f;
}

/* Packs m and unpacks it again with protobuf-c's own code, so that the arrays walked are laid
 * out by protobuf-c, not by this test. The caller frees it with free_unpacked. */
static ProtobufCMessage *through_protobuf_c(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    assert_non_null(buf);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *out = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
    free(buf);
    assert_non_null(out);
    return out;
}

static void test_pbwalk_element_size(void **state)
{
    (void)state;
    /* The C types protobuf-c's generated structs use for each field type. */
    static const struct {
        ProtobufCType type;
        size_t size;
    } expected[] = {
        {PROTOBUF_C_TYPE_INT32, sizeof(int32_t)},
        {PROTOBUF_C_TYPE_SINT32, sizeof(int32_t)},
        {PROTOBUF_C_TYPE_SFIXED32, sizeof(int32_t)},
        {PROTOBUF_C_TYPE_INT64, sizeof(int64_t)},
        {PROTOBUF_C_TYPE_SINT64, sizeof(int64_t)},
        {PROTOBUF_C_TYPE_SFIXED64, sizeof(int64_t)},
        {PROTOBUF_C_TYPE_UINT32, sizeof(uint32_t)},
        {PROTOBUF_C_TYPE_FIXED32, sizeof(uint32_t)},
        {PROTOBUF_C_TYPE_UINT64, sizeof(uint64_t)},
        {PROTOBUF_C_TYPE_FIXED64, sizeof(uint64_t)},
        {PROTOBUF_C_TYPE_FLOAT, sizeof(float)},
        {PROTOBUF_C_TYPE_DOUBLE, sizeof(double)},
        {PROTOBUF_C_TYPE_BOOL, sizeof(protobuf_c_boolean)},
        {PROTOBUF_C_TYPE_ENUM, sizeof(Parcours__V1__EventType)},
        {PROTOBUF_C_TYPE_STRING, sizeof(char *)},
        {PROTOBUF_C_TYPE_BYTES, sizeof(ProtobufCBinaryData)},
        {PROTOBUF_C_TYPE_MESSAGE, sizeof(ProtobufCMessage *)},
    };
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        if (pbwalk_element_size(expected[i].type) != expected[i].size)
            fail_msg("type %d: %zu bytes, expected %zu", (int)expected[i].type,
                     pbwalk_element_size(expected[i].type), expected[i].size);
}

static void test_pbwalk_repeated_fields(void **state)
{
    (void)state;
    /* Repeated enums (Subscribe.types). */
    Parcours__V1__Subscribe sub = PARCOURS__V1__SUBSCRIBE__INIT;
    Parcours__V1__EventType types[] = {PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_JOB_PLACED,
                                       PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_MEMBER_LEFT,
                                       PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_TRAINING_ENTERED};
    sub.types = types;
    sub.n_types = 3;
    sub.window = 7;
    Parcours__V1__Subscribe *s = (Parcours__V1__Subscribe *)through_protobuf_c(&sub.base);
    const ProtobufCFieldDescriptor *f = field_named(s->base.descriptor, "types");
    assert_int_equal(pbwalk_field_count(&s->base, f), 3);
    for (size_t k = 0; k < 3; k++) {
        assert_ptr_equal(pbwalk_field_element(&s->base, f, k), &s->types[k]);
        assert_int_equal(*(const int *)pbwalk_field_element(&s->base, f, k), (int)types[k]);
    }
    const ProtobufCFieldDescriptor *window = field_named(s->base.descriptor, "window");
    assert_ptr_equal(pbwalk_field_member(&s->base, window), &s->window);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    /* Repeated strings (Pathway.members). */
    Parcours__V1__Pathway pathway = PARCOURS__V1__PATHWAY__INIT;
    char *members[] = {"cd93", "ml93", "ft93"};
    pathway.members = members;
    pathway.n_members = 3;
    pathway.beneficiary_id = "B-93-0001";
    Parcours__V1__Pathway *p = (Parcours__V1__Pathway *)through_protobuf_c(&pathway.base);
    f = field_named(p->base.descriptor, "members");
    assert_int_equal(pbwalk_field_count(&p->base, f), 3);
    for (size_t k = 0; k < 3; k++)
        assert_string_equal(*(char *const *)pbwalk_field_element(&p->base, f, k), members[k]);
    f = field_named(p->base.descriptor, "beneficiary_id");
    assert_string_equal(*(char *const *)pbwalk_field_member(&p->base, f), "B-93-0001");
    protobuf_c_message_free_unpacked(&p->base, NULL);

    /* Repeated messages holding repeated strings (AdminReply.partners[].territories), and an
     * empty repeated field. */
    Parcours__V1__AdminReply reply = PARCOURS__V1__ADMIN_REPLY__INIT;
    Parcours__V1__PartnerInfo a = PARCOURS__V1__PARTNER_INFO__INIT;
    Parcours__V1__PartnerInfo b = PARCOURS__V1__PARTNER_INFO__INIT;
    char *territories[] = {"93", "94"};
    a.partner_id = "cd93";
    b.partner_id = "ft93";
    b.territories = territories;
    b.n_territories = 2;
    Parcours__V1__PartnerInfo *partners[] = {&a, &b};
    reply.partners = partners;
    reply.n_partners = 2;
    Parcours__V1__AdminReply *r = (Parcours__V1__AdminReply *)through_protobuf_c(&reply.base);
    f = field_named(r->base.descriptor, "partners");
    assert_int_equal(pbwalk_field_count(&r->base, f), 2);
    assert_int_equal(pbwalk_field_count(&r->base, field_named(r->base.descriptor, "history")), 0);
    const ProtobufCMessage *second =
        *(ProtobufCMessage *const *)pbwalk_field_element(&r->base, f, 1);
    assert_ptr_equal(second, r->partners[1]);
    const ProtobufCFieldDescriptor *t = field_named(second->descriptor, "territories");
    assert_int_equal(pbwalk_field_count(second, t), 2);
    assert_string_equal(*(char *const *)pbwalk_field_element(second, t, 1), "94");
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* Checks pbwalk_field_selected over every field of m: every field outside a oneof, and of the
 * oneof members the one numbered selected_id alone (0: none). */
static void selected_check(const ProtobufCMessage *m, uint32_t selected_id)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        bool expected = !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || f->id == selected_id;
        if (pbwalk_field_selected(m, f) != expected)
            fail_msg("%s.%s: selected is %d", d->name, f->name, !expected);
    }
}

static void test_pbwalk_oneof(void **state)
{
    (void)state;
    /* Every payload of an Event in turn, as protobuf-c unpacks it. */
    const ProtobufCMessageDescriptor *d = &parcours__v1__event__descriptor;
    unsigned members = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            continue;
        members++;
        Parcours__V1__Event e = PARCOURS__V1__EVENT__INIT;
        e.event_id = "e-1";
        const ProtobufCMessageDescriptor *pd = f->descriptor;
        ProtobufCMessage *payload = malloc(pd->sizeof_message);
        assert_non_null(payload);
        pd->message_init(payload);
        *(uint32_t *)((uint8_t *)&e + f->quantifier_offset) = f->id;
        *(ProtobufCMessage **)((uint8_t *)&e + f->offset) = payload;
        ProtobufCMessage *u = through_protobuf_c(&e.base);
        free(payload);
        selected_check(u, f->id);
        /* The payloads share one storage, a union: any member's address is the union's. */
        assert_ptr_equal(pbwalk_field_member(u, f), &((Parcours__V1__Event *)u)->training_entered);
        assert_ptr_equal(*(ProtobufCMessage *const *)pbwalk_field_member(u, f),
                         ((Parcours__V1__Event *)u)->training_entered);
        protobuf_c_message_free_unpacked(u, NULL);
    }
    assert_int_equal(members, 20);

    /* No member set. */
    Parcours__V1__Event none = PARCOURS__V1__EVENT__INIT;
    selected_check(&none.base, 0);
    /* Another oneof, in another message. */
    Parcours__V1__DeliverReply reply = PARCOURS__V1__DELIVER_REPLY__INIT;
    Parcours__V1__Heartbeat heartbeat = PARCOURS__V1__HEARTBEAT__INIT;
    reply.kind_case = PARCOURS__V1__DELIVER_REPLY__KIND_HEARTBEAT;
    reply.heartbeat = &heartbeat;
    ProtobufCMessage *u = through_protobuf_c(&reply.base);
    selected_check(u, PARCOURS__V1__DELIVER_REPLY__KIND_HEARTBEAT);
    protobuf_c_message_free_unpacked(u, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identifier_lengths),
        cmocka_unit_test(test_identifier_every_byte),
        cmocka_unit_test(test_identifier_reads_no_further_than_the_limit),
        cmocka_unit_test(test_clock),
        cmocka_unit_test_setup_teardown(test_keyfile_good, keys_setup, keys_teardown),
        cmocka_unit_test_setup_teardown(test_keyfile_secret_mode, keys_setup, keys_teardown),
        cmocka_unit_test_setup_teardown(test_keyfile_not_a_regular_file, keys_setup, keys_teardown),
        cmocka_unit_test_setup_teardown(test_keyfile_missing, keys_setup, keys_teardown),
        cmocka_unit_test_setup_teardown(test_keyfile_no_key, keys_setup, keys_teardown),
        cmocka_unit_test(test_keyfile_wipe),
        cmocka_unit_test(test_pbwalk_element_size),
        cmocka_unit_test(test_pbwalk_repeated_fields),
        cmocka_unit_test(test_pbwalk_oneof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
