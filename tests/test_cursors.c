/* Unit tests of the delivery cursors (daemon/cursors.c) on a real store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cursors.h"
#include "store.h"

typedef struct fixture {
    char dir[64];
    store_t *store;
} fixture_t;

static store_t *reopen(fixture_t *f)
{
    store_close(&f->store);
    store_options_t o;
    store_options_default(&o);
    o.initial_map_size = (size_t)1 << 20;
    assert_int_equal(store_open(f->dir, &o, &f->store), STORE_OK);
    return f->store;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/parcours-test-cursors-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    reopen(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    store_close(&f->store);
    char command[128];
    snprintf(command, sizeof(command), "rm -rf %s", f->dir);
    if (system(command) != 0)
        return -1;
    free(f);
    return 0;
}

/* A cursor only moves forward, reads do not add partners, and a write keeps what moved. */
static void test_cursors_move_forward_and_persist(void **state)
{
    fixture_t *f = *state;
    cursors_t *c = cursors_new(f->store);
    assert_non_null(c);
    assert_int_equal(cursors_acked(c, "ft93"), 0);
    assert_int_equal(cursors_write(c), STORE_OK); /* nothing moved: nothing written */
    assert_int_equal(cursors_ack(c, "ft93", 7), 0);
    assert_int_equal(cursors_ack(c, "ft93", 5), 0); /* never back */
    assert_int_equal(cursors_acked(c, "ft93"), 7);
    assert_int_equal(cursors_ack(c, "cd93", 3), 0);
    uint64_t stored = 99;
    assert_int_equal(store_cursor_get(f->store, "ft93", &stored), STORE_OK);
    assert_int_equal(stored, 0); /* not written yet */
    assert_int_equal(cursors_write(c), STORE_OK);
    assert_int_equal(store_cursor_get(f->store, "ft93", &stored), STORE_OK);
    assert_int_equal(stored, 7);
    cursors_destroy(&c);
    assert_null(c);

    /* After a restart, the table starts from the store, and reads it for anyone. */
    reopen(f);
    c = cursors_new(f->store);
    assert_int_equal(cursors_acked(c, "cd93"), 3);
    assert_int_equal(cursors_acked(c, "ml93"), 0);
    assert_int_equal(cursors_ack(c, "cd93", 2), 0);
    assert_int_equal(cursors_acked(c, "cd93"), 3);
    assert_int_equal(cursors_ack(c, "cd93", 10), 0);
    assert_int_equal(cursors_write(c), STORE_OK);
    assert_int_equal(store_cursor_get(f->store, "cd93", &stored), STORE_OK);
    assert_int_equal(stored, 10);
    /* A write with nothing moved since leaves the store's generation alone. */
    uint64_t generation = store_generation(f->store);
    assert_int_equal(cursors_write(c), STORE_OK);
    assert_int_equal(store_generation(f->store), generation);
    cursors_destroy(&c);
    cursors_destroy(&c); /* takes NULL */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cursors_move_forward_and_persist, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
