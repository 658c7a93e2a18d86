/* fairq.c — the server's fair request order: per-client deadline queues,
 * new clients first, then round-robin (see serve/fairq.h).
 *
 * Design notes
 * - Each client with queued jobs has an sx_serve_client (its key and a heap
 *   of its jobs by (deadline, arrival)) on exactly one of two rings: fresh
 *   (its queue was empty when its latest job arrived; served first, once)
 *   or old (served in turn; ring->head is next, and a client joins just
 *   before it, at the end of the round).
 * - A client is found by a linear scan of both rings: at most as many
 *   clients have jobs as there are queued jobs (--queue), and a scan of a
 *   few dozen short strings costs less than the gRPC work of one request.
 * - An emptied client leaves its ring and is kept on a short spare list with
 *   its heap's slots, so that steady traffic does not allocate. */
#include "serve/fairq.h"

#include <stdlib.h>
#include <string.h>

#include "serve/queue.h"

#define MAX_SPARE_CLIENTS 64

struct sx_serve_client {
    char key[SX_SERVE_CLIENT_KEY_MAX];
    sx_heap heap; /* this client's jobs by (deadline, arrival) */
    sx_serve_client *next, *prev;
};

void sx_serve_fairq_init(sx_serve_fairq *f, size_t cap)
{
    *f = (sx_serve_fairq){.cap = cap};
    f->unstarted_tail = &f->unstarted;
}

static void client_free(sx_serve_client *c)
{
    sx_heap_fini(&c->heap);
    free(c);
}

void sx_serve_fairq_fini(sx_serve_fairq *f)
{
    sx_serve_ring *rings[2] = {&f->fresh, &f->old};
    for (int r = 0; r < 2; r++) {
        while (rings[r]->n > 0) {
            sx_serve_client *c = rings[r]->head;
            rings[r]->head = c->next;
            rings[r]->n--;
            client_free(c);
        }
    }
    while (f->spare != NULL) {
        sx_serve_client *c = f->spare;
        f->spare = c->next;
        client_free(c);
    }
    f->n_spare = 0;
}

/* ---- rings -------------------------------------------------------------- */

/* Joins r at the end of the round (just before its head). */
static void ring_add(sx_serve_ring *r, sx_serve_client *c)
{
    if (r->head == NULL) {
        c->next = c->prev = c;
        r->head = c;
    } else {
        c->next = r->head;
        c->prev = r->head->prev;
        c->prev->next = c;
        r->head->prev = c;
    }
    r->n++;
}

static void ring_remove(sx_serve_ring *r, sx_serve_client *c)
{
    if (c->next == c) {
        r->head = NULL;
    } else {
        c->prev->next = c->next;
        c->next->prev = c->prev;
        if (r->head == c) {
            r->head = c->next;
        }
    }
    r->n--;
}

static sx_serve_client *ring_find(const sx_serve_ring *r, const char *key)
{
    sx_serve_client *c = r->head;
    for (size_t i = 0; i < r->n; i++, c = c->next) {
        if (strcmp(c->key, key) == 0) {
            return c;
        }
    }
    return NULL;
}

/* The client of r with the most queued jobs, if it beats *best. */
static void ring_longest(const sx_serve_ring *r, sx_serve_client **best)
{
    sx_serve_client *c = r->head;
    for (size_t i = 0; i < r->n; i++, c = c->next) {
        if (*best == NULL || sx_heap_len(&c->heap) > sx_heap_len(&(*best)->heap)) {
            *best = c;
        }
    }
}

/* ---- clients ------------------------------------------------------------ */

/* A client with an empty heap, on no ring (NULL when out of memory). */
static sx_serve_client *client_get(sx_serve_fairq *f, const char *key)
{
    sx_serve_client *c = f->spare;
    if (c != NULL) {
        f->spare = c->next;
        f->n_spare--;
    } else if ((c = calloc(1, sizeof *c)) != NULL) {
        sx_heap_init(&c->heap);
    } else {
        return NULL;
    }
    memcpy(c->key, key, sizeof c->key);
    c->key[sizeof c->key - 1] = '\0';
    return c;
}

/* An emptied client, off its ring: kept as a spare or freed. */
static void client_put(sx_serve_fairq *f, sx_serve_client *c)
{
    if (f->n_spare < MAX_SPARE_CLIENTS) {
        c->next = f->spare;
        f->spare = c;
        f->n_spare++;
    } else {
        client_free(c);
    }
}

static void unstarted_add(sx_serve_fairq *f, sx_serve_job *j)
{
    j->next_unstarted = NULL;
    *f->unstarted_tail = j;
    f->unstarted_tail = &j->next_unstarted;
}

/* Pops the head of c (on ring r); an emptied c leaves r. */
static sx_serve_job *client_pop(sx_serve_fairq *f, sx_serve_ring *r, sx_serve_client *c)
{
    sx_heap_node *n = sx_heap_pop(&c->heap);
    f->len--;
    if (sx_heap_len(&c->heap) == 0) {
        ring_remove(r, c);
        client_put(f, c);
    }
    return SX_CONTAINER_OF(n, sx_serve_job, node);
}

/* ---- push --------------------------------------------------------------- */

/* Pushes out c's latest-deadline job (latest arrival on ties); c keeps at
 * least one job. */
static void evict_latest(sx_serve_fairq *f, sx_serve_client *c)
{
    sx_heap_node *worst = NULL;
    for (size_t i = 0; i < c->heap.n; i++) {
        sx_heap_node *n = c->heap.v[i];
        if (worst == NULL || n->key > worst->key || (n->key == worst->key && n->seq > worst->seq)) {
            worst = n;
        }
    }
    sx_heap_remove(&c->heap, worst);
    f->len--;
    sx_serve_job *j = SX_CONTAINER_OF(worst, sx_serve_job, node);
    j->evicted = true;
    unstarted_add(f, j);
}

/* Full queue: room for a job of client c (NULL: none queued) if the
 * longest queue is longer than c's by more than one. */
static bool make_room(sx_serve_fairq *f, const sx_serve_client *c)
{
    sx_serve_client *longest = NULL;
    ring_longest(&f->fresh, &longest);
    ring_longest(&f->old, &longest);
    size_t mine = c != NULL ? sx_heap_len(&c->heap) : 0;
    if (longest == NULL || sx_heap_len(&longest->heap) <= mine + 1) {
        return false;
    }
    evict_latest(f, longest);
    return true;
}

specx_status sx_serve_fairq_push(sx_serve_fairq *f, sx_serve_job *j)
{
    sx_serve_client *c = ring_find(&f->fresh, j->client);
    if (c == NULL) {
        c = ring_find(&f->old, j->client);
    }
    if (f->len >= f->cap && !make_room(f, c)) {
        return SPECX_EBUSY;
    }
    bool joining = c == NULL;
    if (joining && (c = client_get(f, j->client)) == NULL) {
        return SPECX_ENOMEM;
    }
    j->node.key = j->deadline;
    j->node.seq = f->next_seq++;
    specx_status st = sx_heap_push(&c->heap, &j->node);
    if (st != SPECX_OK) {
        if (joining) {
            client_put(f, c);
        }
        return st;
    }
    if (joining) {
        ring_add(&f->fresh, c); /* its queue was empty: served first */
    }
    f->len++;
    return SPECX_OK;
}

/* ---- take --------------------------------------------------------------- */

sx_serve_job *sx_serve_fairq_take(sx_serve_fairq *f, specx_time_t now)
{
    while (f->unstarted == NULL) {
        sx_serve_ring *r = f->fresh.head != NULL ? &f->fresh : &f->old;
        sx_serve_client *c = r->head;
        if (c == NULL) {
            break; /* nothing queued */
        }
        sx_serve_job *head = SX_CONTAINER_OF(sx_heap_top(&c->heap), sx_serve_job, node);
        if (head->deadline <= now || atomic_load(&head->cancel)) {
            unstarted_add(f, client_pop(f, r, c)); /* the turn stays */
            continue;
        }
        if (sx_heap_len(&c->heap) > 1) {
            /* Still backlogged after this one: the end of the old round. */
            ring_remove(r, c);
            ring_add(&f->old, c);
            r = &f->old;
        }
        return client_pop(f, r, c);
    }
    sx_serve_job *j = f->unstarted;
    if (j != NULL) {
        f->unstarted = j->next_unstarted;
        if (f->unstarted == NULL) {
            f->unstarted_tail = &f->unstarted;
        }
    }
    return j;
}

bool sx_serve_fairq_ready(const sx_serve_fairq *f)
{
    return f->len > 0 || f->unstarted != NULL;
}

size_t sx_serve_fairq_clients(const sx_serve_fairq *f)
{
    return f->fresh.n + f->old.n;
}
