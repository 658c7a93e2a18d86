/* test_client.c — test calls to a detection server; see test_client.h. */
#include "test_client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/codec.h"
#include "specx/image.h"

#include "test_timeout.h"

specx_encoded_frame *tc_frame(int w, int h)
{
    specx_image img;
    if (specx_image_alloc(&img, w, h) != SPECX_OK) {
        abort();
    }
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *p = img.data + (size_t)y * img.stride + 3 * (size_t)x;
            p[0] = (uint8_t)x;
            p[1] = (uint8_t)(y * 3);
            p[2] = (uint8_t)(x ^ y);
        }
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    specx_encoded_frame *f = NULL;
    if (specx_png_encode(&img, &buf, &len, NULL) != SPECX_OK ||
        specx_encoded_frame_take(buf, len, &f) != SPECX_OK) {
        abort();
    }
    specx_image_clear(&img);
    return f;
}

/* ---- one call --------------------------------------------------------------- */

typedef struct one_call {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    specx_status st;
    char msg[512];
} one_call;

static void one_done(void *user, specx_status st, specx_detections *res, const char *msg)
{
    one_call *o = user;
    specx_detections_destroy(res);
    pthread_mutex_lock(&o->mu);
    o->st = st;
    snprintf(o->msg, sizeof o->msg, "%s", msg != NULL ? msg : "");
    o->done = true;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

specx_status tc_call(specx_rpc_client *c, specx_encoded_frame *f, double timeout_s, char *msg,
                     size_t cap)
{
    one_call o = {.done = false};
    pthread_mutex_init(&o.mu, NULL);
    pthread_cond_init(&o.cv, NULL);
    specx_time_t deadline = specx_time_add(
        specx_time_now(), (specx_dur_t)(timeout_s * specx_test_timeout_scale() * 1e9));
    specx_status st = specx_rpc_call_start(c, f, deadline, one_done, &o, NULL);
    if (st == SPECX_OK) {
        /* the call has its own deadline: done always comes */
        pthread_mutex_lock(&o.mu);
        while (!o.done) {
            pthread_cond_wait(&o.cv, &o.mu);
        }
        pthread_mutex_unlock(&o.mu);
        st = o.st;
        snprintf(msg, cap, "%s", o.msg);
    } else {
        snprintf(msg, cap, "call_start: %s", specx_strerror(st));
    }
    pthread_mutex_destroy(&o.mu);
    pthread_cond_destroy(&o.cv);
    return st;
}

/* ---- the steady client --------------------------------------------------------- */

struct tc_steady {
    specx_rpc_client *c;
    specx_encoded_frame *f;
    int period_ms;
    pthread_t thr;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC: stop, and counts for waiters */
    bool stop;
    int ok, failed;
    char first_failure[640];
};

static struct timespec mono_in(double s)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long ns = ts.tv_nsec + (long long)(s * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

static void *steady_main(void *arg)
{
    tc_steady *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        pthread_mutex_unlock(&s->mu);
        char msg[512];
        specx_status st = tc_call(s->c, s->f, 5, msg, sizeof msg);
        pthread_mutex_lock(&s->mu);
        if (st == SPECX_OK) {
            s->ok++;
        } else if (s->failed++ == 0) {
            snprintf(s->first_failure, sizeof s->first_failure, "%s: %s", specx_status_name(st),
                     msg);
        }
        pthread_cond_broadcast(&s->cv);
        /* the pacing wait, cut short by stop */
        struct timespec until = mono_in(s->period_ms / 1e3);
        while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

tc_steady *tc_steady_start(specx_rpc_client *c, specx_encoded_frame *f, int period_ms)
{
    tc_steady *s = calloc(1, sizeof *s);
    if (s == NULL) {
        abort();
    }
    *s = (tc_steady){.c = c, .f = f, .period_ms = period_ms};
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&s->thr, NULL, steady_main, s) != 0) {
        abort();
    }
    return s;
}

bool tc_steady_wait_ok(tc_steady *s, int n, double timeout_s)
{
    struct timespec until = mono_in(timeout_s * specx_test_timeout_scale());
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    while (s->ok < n && rc == 0) {
        rc = pthread_cond_timedwait(&s->cv, &s->mu, &until);
    }
    bool got = s->ok >= n;
    pthread_mutex_unlock(&s->mu);
    return got;
}

void tc_steady_counts(tc_steady *s, int *ok, int *failed, char *first_failure, size_t cap)
{
    pthread_mutex_lock(&s->mu);
    *ok = s->ok;
    *failed = s->failed;
    if (first_failure != NULL) {
        snprintf(first_failure, cap, "%s", s->first_failure);
    }
    pthread_mutex_unlock(&s->mu);
}

void tc_steady_stop(tc_steady *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thr, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
