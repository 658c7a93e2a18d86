/* test_heap.c — the shared (key, seq) heap: pop order against a sorted
 * reference under random push/remove/update, ties by seq, fixed capacity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/heap.h"

typedef struct item {
    int id;
    sx_heap_node node;
} item;

static int cmp_item(const void *a, const void *b)
{
    const item *x = *(item *const *)a, *y = *(item *const *)b;
    if (x->node.key != y->node.key) {
        return x->node.key < y->node.key ? -1 : 1;
    }
    return x->node.seq < y->node.seq ? -1 : (x->node.seq > y->node.seq);
}

static void test_random_against_sorted(void **state)
{
    (void)state;
    enum { N = 2000 };
    static item items[N];
    item *ref[N];
    srand(7);
    for (int round = 0; round < 20; round++) {
        sx_heap h;
        sx_heap_init(&h);
        size_t nref = 0;
        for (int i = 0; i < N; i++) {
            items[i].id = i;
            sx_heap_node_init(&items[i].node);
            items[i].node.key = rand() % 50; /* many ties */
            items[i].node.seq = (uint64_t)i;
            assert_int_equal(sx_heap_push(&h, &items[i].node), SPECX_OK);
        }
        /* remove a third, re-key a third */
        for (int i = 0; i < N; i++) {
            if (i % 3 == 0) {
                sx_heap_remove(&h, &items[i].node);
                assert_false(sx_heap_node_queued(&items[i].node));
                sx_heap_remove(&h, &items[i].node); /* no-op */
            } else if (i % 3 == 1) {
                items[i].node.key = rand() % 50;
                sx_heap_update(&h, &items[i].node);
            }
        }
        for (int i = 0; i < N; i++) {
            if (sx_heap_node_queued(&items[i].node)) {
                ref[nref++] = &items[i];
            }
        }
        assert_int_equal(sx_heap_len(&h), nref);
        qsort(ref, nref, sizeof ref[0], cmp_item);
        for (size_t k = 0; k < nref; k++) {
            sx_heap_node *top = sx_heap_pop(&h);
            assert_non_null(top);
            assert_ptr_equal(SX_CONTAINER_OF(top, item, node), ref[k]);
            assert_false(sx_heap_node_queued(top));
        }
        assert_null(sx_heap_pop(&h));
        assert_null(sx_heap_top(&h));
        sx_heap_fini(&h);
    }
}

static void test_fixed_capacity(void **state)
{
    (void)state;
    sx_heap h;
    item it[4];
    assert_int_equal(sx_heap_init_fixed(&h, 3), SPECX_OK);
    for (int i = 0; i < 4; i++) {
        sx_heap_node_init(&it[i].node);
        it[i].node.key = 10 - i;
        it[i].node.seq = (uint64_t)i;
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sx_heap_push(&h, &it[i].node), SPECX_OK);
    }
    assert_int_equal(sx_heap_push(&h, &it[3].node), SPECX_EBUSY);
    assert_false(sx_heap_node_queued(&it[3].node));
    assert_int_equal(sx_heap_len(&h), 3);
    assert_ptr_equal(sx_heap_top(&h), &it[2].node);
    sx_heap_fini(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_against_sorted),
        cmocka_unit_test(test_fixed_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
