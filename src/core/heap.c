/* heap.c — intrusive binary min-heap on (key, seq); see heap.h. */
#include "core/heap.h"

#include <stdlib.h>

static bool less(const sx_heap_node *a, const sx_heap_node *b)
{
    return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static void place(sx_heap *h, size_t i, sx_heap_node *n)
{
    h->v[i] = n;
    n->idx = i;
}

static void sift_up(sx_heap *h, size_t i)
{
    sx_heap_node *n = h->v[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!less(n, h->v[p])) {
            break;
        }
        place(h, i, h->v[p]);
        i = p;
    }
    place(h, i, n);
}

static void sift_down(sx_heap *h, size_t i)
{
    sx_heap_node *n = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) {
            break;
        }
        if (c + 1 < h->n && less(h->v[c + 1], h->v[c])) {
            c++;
        }
        if (!less(h->v[c], n)) {
            break;
        }
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, n);
}

void sx_heap_init(sx_heap *h)
{
    *h = (sx_heap){0};
}

specx_status sx_heap_init_fixed(sx_heap *h, size_t cap)
{
    sx_heap_init(h);
    if (cap == 0) {
        cap = 1;
    }
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
    h->v = calloc(cap, sizeof *h->v);
    if (h->v == NULL) {
        return SPECX_ENOMEM;
    }
    h->cap = cap;
    h->fixed = true;
    return SPECX_OK;
}

void sx_heap_fini(sx_heap *h)
{
    free(h->v);
    *h = (sx_heap){0};
}

specx_status sx_heap_push(sx_heap *h, sx_heap_node *n)
{
    if (h->n == h->cap) {
        if (h->fixed) {
            return SPECX_EBUSY;
        }
        size_t ncap = h->cap > 0 ? h->cap * 2 : 64;
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
        sx_heap_node **nv = realloc(h->v, ncap * sizeof *nv);
        if (nv == NULL) {
            return SPECX_ENOMEM;
        }
        h->v = nv;
        h->cap = ncap;
    }
    place(h, h->n++, n);
    sift_up(h, n->idx);
    return SPECX_OK;
}

sx_heap_node *sx_heap_pop(sx_heap *h)
{
    sx_heap_node *top = sx_heap_top(h);
    sx_heap_remove(h, top);
    return top;
}

void sx_heap_remove(sx_heap *h, sx_heap_node *n)
{
    if (n == NULL || n->idx == SX_HEAP_NONE) {
        return;
    }
    size_t i = n->idx;
    n->idx = SX_HEAP_NONE;
    h->n--;
    if (i == h->n) {
        return;
    }
    sx_heap_node *last = h->v[h->n];
    place(h, i, last);
    sift_up(h, i);
    sift_down(h, last->idx);
}

void sx_heap_update(sx_heap *h, sx_heap_node *n)
{
    sift_up(h, n->idx);
    sift_down(h, n->idx);
}
