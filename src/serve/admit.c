/* admit.c — call admission against the per-connection and server-wide call
 * limits (serve/admit.h).
 *
 * Design notes
 * - gRPC's own per-connection bound (SETTINGS_MAX_CONCURRENT_STREAMS) holds
 *   only for a client that acknowledged our SETTINGS; a client that never
 *   does can open any number of streams. Counting calls per peer here
 *   bounds those too: each call over the limit is answered and freed at once.
 * - Peers live in a chained hash table, each with the count of its calls in
 *   progress; an entry exists only while that count is above zero, so the
 *   table never holds more entries than there are calls.
 * - The server-wide limit evicts instead of refusing: ten connections at
 *   their limit of 100 idle streams would otherwise fill a server of 1000
 *   and lock every other client out. Calls that wait (headers without a
 *   request, streams between messages) are kept oldest-activity first; the
 *   oldest is cancelled to make room. A client that keeps its calls busy is
 *   never the oldest; one that opens calls and sends nothing always is. */
#include "serve/admit.h"

#include <grpc/support/alloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sx_serve_peer {
    sx_serve_peer *next;
    unsigned bucket;
    int calls;
    char name[]; /* gRPC's peer string */
};

static unsigned bucket_of(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s != '\0'; s++) {
        h = (h ^ (uint8_t)*s) * 16777619u;
    }
    return h % SX_SERVE_ADMIT_BUCKETS;
}

void sx_serve_admit_init(sx_serve_admit *a, int max_per_peer, int max_total)
{
    *a = (sx_serve_admit){.max_per_peer = max_per_peer, .max_total = max_total};
    pthread_mutex_init(&a->mu, NULL);
}

void sx_serve_admit_fini(sx_serve_admit *a)
{
    for (size_t b = 0; b < SX_SERVE_ADMIT_BUCKETS; b++) {
        while (a->buckets[b] != NULL) {
            sx_serve_peer *p = a->buckets[b];
            a->buckets[b] = p->next;
            free(p);
        }
    }
    pthread_mutex_destroy(&a->mu);
}

/* The entry for name, made if absent; NULL when out of memory. */
static sx_serve_peer *peer_get_locked(sx_serve_admit *a, const char *name)
{
    unsigned b = bucket_of(name);
    for (sx_serve_peer *p = a->buckets[b]; p != NULL; p = p->next) {
        if (strcmp(p->name, name) == 0) {
            return p;
        }
    }
    size_t len = strlen(name);
    sx_serve_peer *p = malloc(sizeof *p + len + 1);
    if (p == NULL) {
        return NULL;
    }
    *p = (sx_serve_peer){.next = a->buckets[b], .bucket = b};
    memcpy(p->name, name, len + 1);
    a->buckets[b] = p;
    return p;
}

static void peer_drop_locked(sx_serve_admit *a, sx_serve_peer *p)
{
    sx_serve_peer **pp = &a->buckets[p->bucket];
    while (*pp != p) {
        pp = &(*pp)->next;
    }
    *pp = p->next;
    free(p);
}

static void unlist_locked(sx_serve_admit *a, sx_serve_admission *e)
{
    if (!e->listed) {
        return;
    }
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        a->lru_head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        a->lru_tail = e->prev;
    }
    e->prev = e->next = NULL;
    e->listed = false;
}

static void list_back_locked(sx_serve_admit *a, sx_serve_admission *e)
{
    e->prev = a->lru_tail;
    e->next = NULL;
    if (a->lru_tail != NULL) {
        a->lru_tail->next = e;
    } else {
        a->lru_head = e;
    }
    a->lru_tail = e;
    e->listed = true;
}

/* At the server-wide limit: evicts the oldest waiting call. False when
 * there is none. */
static bool evict_oldest_locked(sx_serve_admit *a)
{
    sx_serve_admission *victim = a->lru_head;
    if (victim == NULL) {
        return false;
    }
    unlist_locked(a, victim);
    victim->evicted = true;
    a->evicting++;
    char why[200];
    snprintf(why, sizeof why,
             "server at its limit of %d calls in progress (--max-pending): this call, the "
             "longest without activity, was closed to make room",
             a->max_total);
    victim->evict(victim, why);
    return true;
}

static specx_status admit_locked(sx_serve_admit *a, const char *name, sx_serve_admission *e,
                                 char *msg, size_t msglen)
{
    sx_serve_peer *p = peer_get_locked(a, name);
    if (p == NULL) {
        snprintf(msg, msglen, "server out of memory");
        return SPECX_ENOMEM;
    }
    specx_status st = SPECX_OK;
    if (p->calls >= a->max_per_peer) {
        st = SPECX_EBUSY;
        snprintf(msg, msglen,
                 "%d calls in progress on this connection, the server's limit (--max-streams)",
                 p->calls);
    } else if (a->total - a->evicting >= a->max_total && !evict_oldest_locked(a)) {
        st = SPECX_EBUSY;
        snprintf(msg, msglen,
                 "server has %d calls in progress, its limit (--max-pending), all of them busy: "
                 "try again or another server",
                 a->total);
    }
    if (st != SPECX_OK) {
        if (p->calls == 0) {
            peer_drop_locked(a, p);
        }
        return st;
    }
    p->calls++;
    a->total++;
    e->peer = p;
    list_back_locked(a, e);
    return SPECX_OK;
}

specx_status sx_serve_admit_take(sx_serve_admit *a, grpc_call *call, sx_serve_admission *e,
                                 sx_serve_evict_fn evict, char *msg, size_t msglen)
{
    *e = (sx_serve_admission){.evict = evict};
    char *peer = grpc_call_get_peer(call);
    pthread_mutex_lock(&a->mu);
    specx_status st = admit_locked(a, peer != NULL ? peer : "?", e, msg, msglen);
    pthread_mutex_unlock(&a->mu);
    gpr_free(peer);
    return st;
}

void sx_serve_admit_touch(sx_serve_admit *a, sx_serve_admission *e)
{
    pthread_mutex_lock(&a->mu);
    if (e->listed) {
        unlist_locked(a, e);
        list_back_locked(a, e);
    }
    pthread_mutex_unlock(&a->mu);
}

void sx_serve_admit_busy(sx_serve_admit *a, sx_serve_admission *e)
{
    pthread_mutex_lock(&a->mu);
    unlist_locked(a, e);
    pthread_mutex_unlock(&a->mu);
}

void sx_serve_admit_release(sx_serve_admit *a, sx_serve_admission *e)
{
    if (e->peer == NULL) {
        return;
    }
    pthread_mutex_lock(&a->mu);
    unlist_locked(a, e);
    a->total--;
    if (e->evicted) {
        a->evicting--;
    }
    if (--e->peer->calls == 0) {
        peer_drop_locked(a, e->peer);
    }
    e->peer = NULL;
    pthread_mutex_unlock(&a->mu);
}
