/* core/heap.h — internal: an intrusive binary min-heap ordered by
 * (key, seq), shared by the operator's deadline timers and the server's
 * deadline-ordered work queue.
 *
 * Contract
 *  - Entries are sx_heap_node structs embedded in the caller's objects
 *    (recover the object with SX_CONTAINER_OF). The caller sets key and seq
 *    before push; ties on key go to the lower seq, so order is deterministic.
 *  - A node is in at most one heap; idx == SX_HEAP_NONE means "not in a heap"
 *    (sx_heap_node_init sets it). remove() of a node not in the heap is a
 *    no-op, so lazy cancellation needs no bookkeeping of its own.
 *  - Not thread-safe: the owner's lock protects the heap.
 *  - push fails only on allocation failure (SPECX_ENOMEM), leaving the heap
 *    unchanged; a heap made with a fixed capacity (sx_heap_init_fixed) fails
 *    with SPECX_EBUSY when full and never allocates after init. */
#ifndef SX_CORE_HEAP_H
#define SX_CORE_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/status.h"
#include "specx/time.h"

#define SX_HEAP_NONE SIZE_MAX
#define SX_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

typedef struct sx_heap_node {
    specx_time_t key;
    uint64_t seq;
    size_t idx; /* position in the heap; SX_HEAP_NONE when not in one */
} sx_heap_node;

typedef struct sx_heap {
    sx_heap_node **v;
    size_t n, cap;
    bool fixed; /* capacity set once; push beyond it fails with SPECX_EBUSY */
} sx_heap;

static inline void sx_heap_node_init(sx_heap_node *n)
{
    n->idx = SX_HEAP_NONE;
}

static inline bool sx_heap_node_queued(const sx_heap_node *n)
{
    return n->idx != SX_HEAP_NONE;
}

/* Growable heap: allocates on push as needed. */
void sx_heap_init(sx_heap *h);
/* Fixed-capacity heap: allocates cap slots now. SPECX_ENOMEM on failure
 * (then *h is an empty growable heap, safe to sx_heap_fini). */
specx_status sx_heap_init_fixed(sx_heap *h, size_t cap);
/* Frees the slot array; the nodes are the caller's. */
void sx_heap_fini(sx_heap *h);

specx_status sx_heap_push(sx_heap *h, sx_heap_node *n);
/* The least node, NULL when empty. */
static inline sx_heap_node *sx_heap_top(const sx_heap *h)
{
    return h->n > 0 ? h->v[0] : NULL;
}
/* Removes and returns the least node, NULL when empty. */
sx_heap_node *sx_heap_pop(sx_heap *h);
/* Removes n wherever it is; no-op when n is not queued. */
void sx_heap_remove(sx_heap *h, sx_heap_node *n);
/* Restores order after the caller changed n->key (n must be queued). */
void sx_heap_update(sx_heap *h, sx_heap_node *n);

static inline size_t sx_heap_len(const sx_heap *h)
{
    return h->n;
}

#endif
