/* timer.c — the server's timer thread (serve/timer.h).
 *
 * Design notes
 * - Due times are real CLOCK_MONOTONIC (specx_time_mono): they bound how
 *   long a peer may hold a call, which is about the network, not about the
 *   library's (possibly virtual) clock.
 * - An entry taken to run has left the heap before t->mu is released, so a
 *   disarm racing with it sees "not queued" and returns false: the callback
 *   owns the caller's reference from then on.
 * - expire_all marks the entries armed so far (seq below a mark) due now;
 *   entries armed again by their callbacks get a later seq and their own
 *   time, so a callback that re-arms cannot keep the thread busy. */
#include "serve/timer.h"

static void *timer_main(void *arg)
{
    sx_serve_timers *t = arg;
    pthread_mutex_lock(&t->mu);
    uint64_t expire_below = 0;
    for (;;) {
        if (t->expire_now) {
            t->expire_now = false;
            expire_below = t->next_seq;
        }
        sx_heap_node *top = sx_heap_top(&t->heap);
        if (top == NULL && t->quit) {
            break;
        }
        specx_time_t now = specx_time_mono();
        if (top != NULL && (top->key <= now || top->seq < expire_below || t->quit)) {
            sx_heap_pop(&t->heap);
            pthread_mutex_unlock(&t->mu);
            sx_serve_timer_entry *e = SX_CONTAINER_OF(top, sx_serve_timer_entry, node);
            e->fn(e);
            pthread_mutex_lock(&t->mu);
            continue;
        }
        if (top == NULL) {
            pthread_cond_wait(&t->cv, &t->mu);
        } else {
            struct timespec ts = {.tv_sec = top->key / 1000000000,
                                  .tv_nsec = top->key % 1000000000};
            int rc = pthread_cond_timedwait(&t->cv, &t->mu, &ts);
            (void)rc; /* woken or timed out: look again */
        }
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

specx_status sx_serve_timers_start(sx_serve_timers *t, specx_err *err)
{
    *t = (sx_serve_timers){0};
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    sx_heap_init(&t->heap);
    if (pthread_create(&t->thread, NULL, timer_main, t) != 0) {
        sx_heap_fini(&t->heap);
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        return specx_err_set(err, SPECX_EINTERNAL, "server: cannot start its timer thread");
    }
    t->started = true;
    return SPECX_OK;
}

void sx_serve_timers_stop(sx_serve_timers *t)
{
    if (!t->started) {
        return;
    }
    pthread_mutex_lock(&t->mu);
    t->quit = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    sx_heap_fini(&t->heap);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    t->started = false;
}

void sx_serve_timer_entry_init(sx_serve_timer_entry *e, sx_serve_timer_fn fn)
{
    sx_heap_node_init(&e->node);
    e->fn = fn;
}

specx_status sx_serve_timer_arm(sx_serve_timers *t, sx_serve_timer_entry *e, specx_time_t when)
{
    pthread_mutex_lock(&t->mu);
    specx_status st = SPECX_OK;
    if (t->quit) {
        st = SPECX_ESTOPPED;
    } else if (sx_heap_node_queued(&e->node)) {
        e->node.key = when;
        sx_heap_update(&t->heap, &e->node);
    } else {
        e->node.key = when;
        e->node.seq = t->next_seq++;
        st = sx_heap_push(&t->heap, &e->node);
    }
    if (st == SPECX_OK && sx_heap_top(&t->heap) == &e->node) {
        pthread_cond_signal(&t->cv); /* an earlier wake-up than the thread's */
    }
    pthread_mutex_unlock(&t->mu);
    return st;
}

bool sx_serve_timer_disarm(sx_serve_timers *t, sx_serve_timer_entry *e)
{
    pthread_mutex_lock(&t->mu);
    bool queued = sx_heap_node_queued(&e->node);
    sx_heap_remove(&t->heap, &e->node);
    pthread_mutex_unlock(&t->mu);
    return queued;
}

void sx_serve_timers_expire_all(sx_serve_timers *t)
{
    pthread_mutex_lock(&t->mu);
    t->expire_now = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}
