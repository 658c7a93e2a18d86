/* fairq.c — the server's fair request order: per-client deadline queues
 * taken by start-time fair queueing (see serve/fairq.h).
 *
 * Design notes
 * - A client record: its key, a heap of its jobs by (deadline, arrival), its
 *   head tag and the tag after its last served request (`next`), a node in
 *   f->active while it has jobs (key = 2 x head tag, + 1 when it stayed
 *   backlogged after its last request: at equal tags, clients that arrived
 *   with nothing queued go first), and a link in a hash chain (f->bucket)
 *   for as long as it is known.
 * - An emptied client goes to the idle list (oldest first) and stays known
 *   while `next` > V: it was served lately and must not jump ahead when it
 *   returns. Each push forgets idle clients that are behind V or beyond
 *   MAX_IDLE (a forgotten client returns at V, like a new one: at most one
 *   request of advantage). Forgotten records go to a short spare list with
 *   their heap's slots, so that steady traffic does not allocate.
 * - Tags are whole requests (int64), so tags and V never round. */
#include "serve/fairq.h"

#include <stdlib.h>
#include <string.h>

#include "serve/queue.h"

#define MAX_IDLE 1024
#define MAX_SPARE 64

struct sx_serve_client {
    char key[SX_SERVE_CLIENT_KEY_MAX];
    sx_heap jobs;           /* this client's jobs by (deadline, arrival) */
    sx_heap_node node;      /* in f->active: key = 2 x head tag, + 1 if backlogged */
    int64_t tag;            /* its head job's start tag */
    int64_t next;           /* tag after its last served request */
    sx_serve_client *chain; /* f->bucket[hash] */
    sx_serve_client *idle_prev, *idle_next; /* f->idle list, or f->spare */
    bool idle;
};

static uint32_t hash_key(const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *key != '\0'; key++) {
        h = (h ^ (uint8_t)*key) * 16777619u;
    }
    return h % SX_SERVE_FAIRQ_BUCKETS;
}

void sx_serve_fairq_init(sx_serve_fairq *f, size_t cap)
{
    memset(f, 0, sizeof *f);
    f->cap = cap;
    sx_heap_init(&f->active);
    f->unstarted_tail = &f->unstarted;
}

static void client_free(sx_serve_client *c)
{
    sx_heap_fini(&c->jobs);
    free(c);
}

void sx_serve_fairq_fini(sx_serve_fairq *f)
{
    for (size_t b = 0; b < SX_SERVE_FAIRQ_BUCKETS; b++) {
        while (f->bucket[b] != NULL) {
            sx_serve_client *c = f->bucket[b];
            f->bucket[b] = c->chain;
            client_free(c);
        }
    }
    while (f->spare != NULL) {
        sx_serve_client *c = f->spare;
        f->spare = c->idle_next;
        client_free(c);
    }
    sx_heap_fini(&f->active);
}

/* ---- client records ----------------------------------------------------- */

static sx_serve_client *client_find(const sx_serve_fairq *f, const char *key)
{
    for (sx_serve_client *c = f->bucket[hash_key(key)]; c != NULL; c = c->chain) {
        if (strcmp(c->key, key) == 0) {
            return c;
        }
    }
    return NULL;
}

/* A known client with no jobs and next = 0 (NULL when out of memory). */
static sx_serve_client *client_add(sx_serve_fairq *f, const char *key)
{
    sx_serve_client *c = f->spare;
    if (c != NULL) {
        f->spare = c->idle_next;
        f->n_spare--;
    } else if ((c = calloc(1, sizeof *c)) != NULL) {
        sx_heap_init(&c->jobs);
    } else {
        return NULL;
    }
    memcpy(c->key, key, sizeof c->key);
    c->key[sizeof c->key - 1] = '\0';
    sx_heap_node_init(&c->node);
    c->next = 0;
    c->idle = false;
    c->idle_prev = c->idle_next = NULL;
    uint32_t h = hash_key(c->key);
    c->chain = f->bucket[h];
    f->bucket[h] = c;
    return c;
}

static void idle_unlink(sx_serve_fairq *f, sx_serve_client *c)
{
    if (f->idle_head == c) {
        f->idle_head = c->idle_next;
    } else {
        c->idle_prev->idle_next = c->idle_next;
    }
    if (f->idle_tail == c) {
        f->idle_tail = c->idle_prev;
    } else {
        c->idle_next->idle_prev = c->idle_prev;
    }
    c->idle_prev = c->idle_next = NULL;
    c->idle = false;
    f->n_idle--;
}

/* An idle client is forgotten: out of its hash chain, to the spare list. */
static void client_forget(sx_serve_fairq *f, sx_serve_client *c)
{
    idle_unlink(f, c);
    sx_serve_client **p = &f->bucket[hash_key(c->key)];
    while (*p != c) {
        p = &(*p)->chain;
    }
    *p = c->chain;
    if (f->n_spare < MAX_SPARE) {
        c->idle_next = f->spare;
        f->spare = c;
        f->n_spare++;
    } else {
        client_free(c);
    }
}

/* Forgets the oldest idle clients that are no longer ahead of V. */
static void idle_prune(sx_serve_fairq *f)
{
    while (f->idle_head != NULL && (f->idle_head->next <= f->vtime || f->n_idle > MAX_IDLE)) {
        client_forget(f, f->idle_head);
    }
}

/* c's queue became empty: out of the active heap, onto the idle list. */
static void client_deactivate(sx_serve_fairq *f, sx_serve_client *c)
{
    sx_heap_remove(&f->active, &c->node);
    c->idle = true;
    c->idle_next = NULL;
    c->idle_prev = f->idle_tail;
    if (f->idle_tail != NULL) {
        f->idle_tail->idle_next = c;
    } else {
        f->idle_head = c;
    }
    f->idle_tail = c;
    f->n_idle++;
}

/* c's head tag changed (or c just got jobs): its place among the clients.
 * At equal tags a client that arrived with nothing queued goes before one
 * that stayed backlogged (fq_codel's sparse flows first). */
static specx_status client_rekey(sx_serve_fairq *f, sx_serve_client *c, int64_t tag,
                                 bool backlogged)
{
    c->tag = tag;
    c->node.key = 2 * tag + (backlogged ? 1 : 0);
    c->node.seq = f->next_seq++;
    if (sx_heap_node_queued(&c->node)) {
        sx_heap_update(&f->active, &c->node);
        return SPECX_OK;
    }
    return sx_heap_push(&f->active, &c->node);
}

static sx_serve_job *job_of(sx_heap_node *n)
{
    return SX_CONTAINER_OF(n, sx_serve_job, node);
}

static void unstarted_add(sx_serve_fairq *f, sx_serve_job *j)
{
    j->next_unstarted = NULL;
    *f->unstarted_tail = j;
    f->unstarted_tail = &j->next_unstarted;
}

/* ---- push --------------------------------------------------------------- */

/* Pushes out the latest-deadline job (latest arrival on ties) of the client
 * with the most queued, if that is more than mine + 1; false otherwise. */
static bool make_room(sx_serve_fairq *f, size_t mine)
{
    sx_serve_client *longest = NULL;
    for (size_t i = 0; i < f->active.n; i++) {
        sx_serve_client *c = SX_CONTAINER_OF(f->active.v[i], sx_serve_client, node);
        if (longest == NULL || sx_heap_len(&c->jobs) > sx_heap_len(&longest->jobs)) {
            longest = c;
        }
    }
    if (longest == NULL || sx_heap_len(&longest->jobs) <= mine + 1) {
        return false;
    }
    sx_heap_node *worst = NULL;
    for (size_t i = 0; i < longest->jobs.n; i++) {
        sx_heap_node *n = longest->jobs.v[i];
        if (worst == NULL || n->key > worst->key || (n->key == worst->key && n->seq > worst->seq)) {
            worst = n;
        }
    }
    /* Not its head (it has two or more): its head tag stays. */
    sx_heap_remove(&longest->jobs, worst);
    f->len--;
    job_of(worst)->evicted = true;
    unstarted_add(f, job_of(worst));
    return true;
}

specx_status sx_serve_fairq_push(sx_serve_fairq *f, sx_serve_job *j)
{
    idle_prune(f);
    sx_serve_client *c = client_find(f, j->client);
    size_t mine = c != NULL ? sx_heap_len(&c->jobs) : 0;
    if (f->len >= f->cap && !make_room(f, mine)) {
        return SPECX_EBUSY;
    }
    if (c == NULL && (c = client_add(f, j->client)) == NULL) {
        return SPECX_ENOMEM;
    }
    j->node.key = j->deadline;
    j->node.seq = f->next_seq++;
    specx_status st = sx_heap_push(&c->jobs, &j->node);
    if (st == SPECX_OK && mine == 0) {
        /* Its queue was empty: it starts at V, or after its last request. */
        st = client_rekey(f, c, c->next > f->vtime ? c->next : f->vtime, false);
        if (st != SPECX_OK) {
            sx_heap_remove(&c->jobs, &j->node);
        } else if (c->idle) {
            idle_unlink(f, c);
        }
    }
    if (st != SPECX_OK) {
        if (mine == 0 && !c->idle) {
            client_deactivate(f, c); /* known, empty: idle like any other */
        }
        return st;
    }
    f->len++;
    return SPECX_OK;
}

/* ---- take --------------------------------------------------------------- */

/* Pops c's head job; an emptied c goes idle. */
static sx_serve_job *client_pop(sx_serve_fairq *f, sx_serve_client *c)
{
    sx_serve_job *j = job_of(sx_heap_pop(&c->jobs));
    f->len--;
    if (sx_heap_len(&c->jobs) == 0) {
        client_deactivate(f, c);
    }
    return j;
}

sx_serve_job *sx_serve_fairq_take(sx_serve_fairq *f, specx_time_t now)
{
    while (f->unstarted == NULL) {
        sx_heap_node *top = sx_heap_top(&f->active);
        if (top == NULL) {
            break; /* nothing queued */
        }
        sx_serve_client *c = SX_CONTAINER_OF(top, sx_serve_client, node);
        sx_serve_job *head = job_of(sx_heap_top(&c->jobs));
        if (head->deadline <= now || atomic_load(&head->cancel)) {
            unstarted_add(f, client_pop(f, c)); /* its tag stays for the next */
            continue;
        }
        int64_t tag = c->tag;
        f->vtime = tag;
        c->next = tag + 1;
        if (sx_heap_len(&c->jobs) > 1) {
            client_rekey(f, c, tag + 1, true); /* in the heap already: cannot fail */
        }
        return client_pop(f, c);
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
    return sx_heap_len(&f->active);
}
