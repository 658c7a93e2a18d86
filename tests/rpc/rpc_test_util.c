/* rpc_test_util.c — helpers shared by the rpc tests. */
#include "rpc_test_util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "specx/codec.h"

#include "test_timeout.h"

specx_dur_t tu_scaled(specx_dur_t d)
{
    return (specx_dur_t)((double)d * specx_test_timeout_scale());
}

typedef struct spec_holder {
    char spec[128];
} spec_holder;

static spec_holder holder;

static specx_status open_test(void *user, int worker, specx_detector **out, specx_err *err)
{
    (void)worker;
    return specx_rpc_test_detector_open(((spec_holder *)user)->spec, out, err);
}

specx_rpc_server *tu_server(const char *spec, int workers, int queue)
{
    return tu_server_on(spec, workers, queue, 0);
}

specx_rpc_server *tu_server_on(const char *spec, int workers, int queue, int port)
{
    snprintf(holder.spec, sizeof holder.spec, "%s", spec);
    specx_rpc_server_config cfg = {.bind = "127.0.0.1",
                                   .port = port,
                                   .workers = workers,
                                   .queue_capacity = queue,
                                   .open_detector = open_test,
                                   .open_detector_user = &holder};
    specx_rpc_server *s = NULL;
    specx_err err = {{0}};
    specx_status st = specx_rpc_server_start(&cfg, &s, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "server start: %s\n", specx_err_text(&err, st));
        return NULL;
    }
    return s;
}

specx_rpc_client *tu_client(int port, const char *options)
{
    char str[512];
    snprintf(str, sizeof str, "127.0.0.1:%d%s", port, options != NULL ? options : "");
    specx_rpc_client_config cfg;
    specx_err err = {{0}};
    if (specx_rpc_client_config_parse(str, &cfg, &err) != SPECX_OK) {
        fprintf(stderr, "parse: %s\n", err.msg);
        return NULL;
    }
    cfg.reconnect_max = SPECX_MS(200);
    specx_rpc_client *c = NULL;
    if (specx_rpc_client_create(&cfg, &c, &err) != SPECX_OK) {
        fprintf(stderr, "client: %s\n", err.msg);
        return NULL;
    }
    return c;
}

specx_encoded_frame *tu_frame(int w, int h, bool jpeg)
{
    specx_image img;
    if (specx_image_alloc(&img, w, h) != SPECX_OK) {
        return NULL;
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
    specx_status st = jpeg ? specx_jpeg_encode(&img, 85, &buf, &len, NULL)
                           : specx_png_encode(&img, &buf, &len, NULL);
    specx_image_clear(&img);
    if (st != SPECX_OK) {
        return NULL;
    }
    specx_encoded_frame *f = NULL;
    if (specx_encoded_frame_take(buf, len, &f) != SPECX_OK) {
        free(buf);
        return NULL;
    }
    return f;
}

typedef struct slot {
    tu_waiter *w;
    int i;
} slot;

void tu_waiter_init(tu_waiter *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&w->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
}

void tu_waiter_free(tu_waiter *w)
{
    for (int i = 0; i < TU_MAX; i++) {
        specx_detections_destroy(w->rec[i].res);
        free(w->slot_user[i]);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

tu_waiter *tu_waiter_new(void)
{
    tu_waiter *w = malloc(sizeof *w);
    if (w == NULL) {
        abort();
    }
    tu_waiter_init(w);
    return w;
}

void tu_waiter_delete(tu_waiter *w)
{
    tu_waiter_free(w);
    free(w);
}

void *tu_slot(tu_waiter *w, int i)
{
    if (w->slot_user[i] == NULL) {
        slot *s = malloc(sizeof *s);
        s->w = w;
        s->i = i;
        w->slot_user[i] = s;
    }
    return w->slot_user[i];
}

void tu_done(void *user, specx_status st, specx_detections *res, const char *msg)
{
    slot *s = user;
    tu_waiter *w = s->w;
    pthread_mutex_lock(&w->mu);
    tu_rec *r = &w->rec[s->i];
    r->calls++;
    r->st = st;
    if (r->res != NULL) {
        specx_detections_destroy(r->res);
    }
    r->res = res;
    r->at = specx_time_now();
    snprintf(r->msg, sizeof r->msg, "%s", msg != NULL ? msg : "");
    w->done++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

bool tu_wait(tu_waiter *w, int n, specx_dur_t timeout)
{
    specx_time_t until = specx_time_mono() + tu_scaled(timeout);
    struct timespec ts = {.tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
    pthread_mutex_lock(&w->mu);
    while (w->done < n) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT) {
            break;
        }
    }
    bool ok = w->done >= n;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

bool tu_wait_stats(specx_rpc_server *s, bool (*pred)(const specx_rpc_server_stats *),
                   specx_dur_t timeout)
{
    specx_time_t until = specx_time_mono() + tu_scaled(timeout);
    specx_rpc_server_stats *st = malloc(sizeof *st);
    bool ok = false;
    for (;;) {
        specx_rpc_server_get_stats(s, st);
        if (pred(st)) {
            ok = true;
            break;
        }
        if (specx_time_mono() > until) {
            break;
        }
        struct timespec d = {0, 2000000};
        nanosleep(&d, NULL);
    }
    free(st);
    return ok;
}

/* Children still running when the test process exits (a failed assertion
 * skips the test's own clean-up) are killed so that nothing outlives it. */
static pid_t children[16];

static void kill_children(void)
{
    for (size_t i = 0; i < sizeof children / sizeof children[0]; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
        }
    }
}

static void track_child(pid_t pid, bool add)
{
    static bool registered;
    if (!registered) {
        atexit(kill_children);
        registered = true;
    }
    for (size_t i = 0; i < sizeof children / sizeof children[0]; i++) {
        if (add ? children[i] == 0 : children[i] == pid) {
            children[i] = add ? pid : 0;
            return;
        }
    }
}

static void *drain(void *arg)
{
    int fd = *(int *)arg;
    free(arg);
    char buf[4096];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
    return NULL;
}

pid_t tu_spawn_listening(char *const argv[], int *port)
{
    int fds[2];
    *port = 0;
    if (pipe(fds) != 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    track_child(pid, true);
    FILE *f = fdopen(fds[0], "r");
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
        const char *p = strstr(line, "listening on ");
        if (p != NULL) {
            const char *colon = strrchr(p, ':');
            *port = colon != NULL ? atoi(colon + 1) : 0;
            break;
        }
    }
    /* Keep draining the child's stdout so that it never blocks on a full pipe. */
    int *fd = malloc(sizeof *fd);
    *fd = dup(fileno(f));
    fclose(f);
    pthread_t t;
    if (*fd < 0 || pthread_create(&t, NULL, drain, fd) != 0) {
        if (*fd >= 0) {
            close(*fd);
        }
        free(fd);
    } else {
        pthread_detach(t);
    }
    return pid;
}

int tu_stop_child(pid_t pid, int sig)
{
    kill(pid, sig);
    track_child(pid, false);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

const char *tu_source_dir(void)
{
    const char *s = getenv("SPECX_SOURCE_DIR");
    return s != NULL ? s : ".";
}

bool tu_one_received(const specx_rpc_server_stats *s)
{
    return s->received >= 1;
}

bool tu_one_cancelled(const specx_rpc_server_stats *s)
{
    return s->cancelled >= 1;
}

bool tu_one_expired(const specx_rpc_server_stats *s)
{
    return s->expired >= 1;
}
