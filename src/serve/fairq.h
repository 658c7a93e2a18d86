/* serve/fairq.h — internal to src/serve: the order in which the server's
 * workers take requests, shared fairly between clients. A data structure
 * only: no threads, no clock of its own (the caller passes now), no
 * callbacks; serve/queue.h wraps it in a lock and runs the workers.
 *
 * Discipline (docs/rpc.md, "Fairness between clients")
 *  - Each client (job->client) has its own queue ordered by (deadline,
 *    arrival): within a client the earliest deadline runs first.
 *  - Between clients: start-time fair queueing (Goyal, Vin and Cheng, 1996)
 *    with a cost of one per request (every request costs about one
 *    inference). Virtual time V is the tag of the request started last.
 *    A client's queued requests hold consecutive tags from its head tag;
 *    a client whose queue was empty starts at max(V, the tag after its last
 *    served request). Workers take the head of the client with the lowest
 *    head tag; at equal tags a client that arrived with nothing queued goes
 *    before one that stayed backlogged (fq_codel's sparse-flow priority,
 *    RFC 8290), then the client that got its tag first.
 *    So a vehicle at its camera rate, with nothing queued, goes ahead of a
 *    client that keeps a queue; one sending ten times its share only pushes
 *    its own tags ahead; and under overload clients take turns: a client
 *    just served starts behind those that were not, so which vehicles miss
 *    their deadlines rotates instead of locking onto the same phases.
 *  - A client's head job whose deadline has passed or whose cancel flag is
 *    set comes out as "unstarted" (to answer without computing); it does
 *    not use up the client's tag.
 *  - The queue holds at most cap jobs across clients. When full, a job of a
 *    client with fewer queued jobs than the longest queue (by more than
 *    one) pushes out that queue's latest-deadline job (job->evicted, also
 *    taken as unstarted); otherwise push refuses it.
 *  - Clients are remembered after their queue empties while their next tag
 *    is ahead of V (bounded; a forgotten client starts at V, as a new one).
 *  - Not thread-safe (the caller's lock). Jobs stay the caller's: the queue
 *    links them, never frees them. */
#ifndef SX_SERVE_FAIRQ_H
#define SX_SERVE_FAIRQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/status.h"
#include "specx/time.h"

#include "core/heap.h"

typedef struct sx_serve_job sx_serve_job; /* serve/queue.h */
typedef struct sx_serve_client sx_serve_client;

#define SX_SERVE_FAIRQ_BUCKETS 256

typedef struct sx_serve_fairq {
    size_t cap, len; /* bound, and jobs queued across clients */
    sx_heap active;  /* clients with queued jobs, by (head tag, seq) */
    int64_t vtime;   /* tag of the request started last */
    uint64_t next_seq;
    sx_serve_client *bucket[SX_SERVE_FAIRQ_BUCKETS]; /* every known client, by key */
    sx_serve_client *idle_head, *idle_tail;          /* emptied clients, oldest first */
    size_t n_idle;
    sx_serve_client *spare; /* records kept for reuse */
    size_t n_spare;
    sx_serve_job *unstarted; /* to answer without computing, in order */
    sx_serve_job **unstarted_tail;
} sx_serve_fairq;

void sx_serve_fairq_init(sx_serve_fairq *f, size_t cap);
/* Frees the client records (queued jobs are not touched). */
void sx_serve_fairq_fini(sx_serve_fairq *f);

/* Queues j under j->client (its node key is set to j->deadline). SPECX_EBUSY:
 * full and j's client has (about) the longest queue; SPECX_ENOMEM. On
 * success another client's job may have been pushed out (taken next as
 * unstarted). */
specx_status sx_serve_fairq_push(sx_serve_fairq *f, sx_serve_job *j);
/* The next job: one to answer without computing (evicted, or a stale head
 * at `now`), else the next one to compute; NULL when there is none. */
sx_serve_job *sx_serve_fairq_take(sx_serve_fairq *f, specx_time_t now);
/* True when take would return a job. */
bool sx_serve_fairq_ready(const sx_serve_fairq *f);
/* Clients with jobs queued. */
size_t sx_serve_fairq_clients(const sx_serve_fairq *f);

#endif
