/* serve/fairq.h — internal to src/serve: the order in which the server's
 * workers take requests, shared fairly between clients. A data structure
 * only: no threads, no clock of its own (the caller passes now), no
 * callbacks; serve/queue.h wraps it in a lock and runs the workers.
 *
 * Discipline (docs/rpc.md, "Fairness")
 *  - Each client (job->client) has its own queue ordered by (deadline,
 *    arrival): within a client the earliest deadline runs first.
 *  - Between clients: deficit round-robin with a quantum of one request
 *    (every request costs about one inference), with the sparse-client
 *    priority of fq_codel (RFC 8290): a client whose queue was empty when
 *    its request arrived is "new" and is served before the "old" clients,
 *    for one request; if it still has requests queued it then joins the
 *    end of the old round. A vehicle at its camera rate finds its queue
 *    empty and waits for little more than the request on the worker; one
 *    that sends ten times its share keeps a queue, stays old and only
 *    lengthens its own wait. Old clients share what is left in turn.
 *  - A client's head job whose deadline has passed or whose cancel flag is
 *    set comes out as "unstarted" (to answer without computing) and does
 *    not use up the client's turn.
 *  - The queue holds at most cap jobs across clients. When full, a job of a
 *    client with fewer queued jobs than the longest queue (by more than
 *    one) pushes out that queue's latest-deadline job (job->evicted, also
 *    taken as unstarted); otherwise push refuses it.
 *  - Not thread-safe (the caller's lock). Jobs stay the caller's: the queue
 *    links them, never frees them. */
#ifndef SX_SERVE_FAIRQ_H
#define SX_SERVE_FAIRQ_H

#include <stdbool.h>
#include <stddef.h>

#include "specx/status.h"
#include "specx/time.h"

typedef struct sx_serve_job sx_serve_job; /* serve/queue.h */
typedef struct sx_serve_client sx_serve_client;

/* A list of clients in a circle; head is served next. */
typedef struct sx_serve_ring {
    sx_serve_client *head;
    size_t n;
} sx_serve_ring;

typedef struct sx_serve_fairq {
    size_t cap, len;          /* bound, and jobs queued across clients */
    sx_serve_ring fresh, old; /* new clients first, then the old round */
    sx_serve_client *spare;   /* emptied clients kept for reuse */
    size_t n_spare;
    sx_serve_job *unstarted; /* to answer without computing, in order */
    sx_serve_job **unstarted_tail;
    unsigned long long next_seq;
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
