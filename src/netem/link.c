/* link.c — the netem TCP proxy: one epoll thread forwarding every accepted
 * connection to the target through a delayed, rate-limited, interruptible
 * pipe per direction.
 *
 * Design notes:
 * - Each read from a source socket becomes a chunk whose release time comes
 *   from sx_netem_path_send (netem/path.h), the code the virtual-clock
 *   simulator runs too. A direction's delay process and capacity belong to
 *   the link (all its connections share them, as flows share a radio link);
 *   each connection keeps its own in-order floor.
 * - Timing is a CLOCK_MONOTONIC timerfd armed (absolute) at the earliest
 *   release among all connections; epoll waits on sockets, the timer and an
 *   eventfd used by specx_netem_stop. No polling.
 * - A direction whose source read EOF is shut down (SHUT_WR) on its
 *   destination once its queue drains: half-close passes through. A socket
 *   error on either side closes both sides with RST (SO_LINGER 0), so the
 *   peers see a reset, as they would without the proxy.
 * - Request round trips: on a connection that opens with the HTTP/2 client
 *   preface (gRPC), frame headers are followed (netem/h2.h); a stream's
 *   round trip runs from reading its first frame from the client to the
 *   release time of the end of its reply. Other traffic gets per-chunk
 *   figures only.
 * - The loop thread owns every connection; `mu` guards the statistics and
 *   the two paths (their outage schedules are read by specx_netem_stats_get). */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "specx/time.h"

#include "netem/h2.h"
#include "netem/path.h"
#include "netem/profile.h"

/* Bytes queued per direction of a connection before the proxy stops reading
 * its source. Large, so that a multi-second delay excursion at video rates
 * (30 Hz × 157 KB ≈ 4.7 MB/s) holds bytes here, timed from when they were
 * sent, as the simulator assumes, rather than in the sender's socket. */
#define BACKLOG_LIMIT (64u << 20)

enum { TAG_LISTEN, TAG_WAKE, TAG_TIMER, TAG_SOCK };

typedef struct conn conn;

typedef struct tag {
    int kind;
    conn *c;
    int side; /* 0 = client socket, 1 = server socket */
} tag;

typedef struct chunk {
    struct chunk *next;
    specx_time_t release;
    size_t len, off;
    uint8_t data[];
} chunk;

/* Direction d reads from side d and writes to side 1-d
 * (UP: client → server, DOWN: server → client). */
typedef struct pipe_dir {
    chunk *head, *tail;
    size_t queued;
    specx_time_t floor; /* release time of the last chunk: order on this connection */
    bool eof;           /* source read EOF */
    bool shut;          /* destination shut down for writing */
    bool blocked;       /* last write hit EAGAIN: wait for EPOLLOUT */
} pipe_dir;

struct conn {
    conn *next, *prev;
    int fd[2];
    bool registered[2];
    uint32_t events[2];
    bool connecting;
    bool dead;
    bool error; /* close with RST */
    tag tags[2];
    pipe_dir p[2];
    sx_netem_h2_scan h2[2]; /* frame boundaries per direction, for request round trips */
    sx_netem_h2_reqs reqs;  /* open requests (HTTP/2 streams) */
    bool h2_counted;
};

struct specx_netem {
    specx_netem_profile *profile;
    int listen_fd, epfd, wake_fd, timer_fd;
    int port;
    struct sockaddr_storage target;
    socklen_t target_len;
    specx_time_t origin;
    specx_time_t timer_armed;
    pthread_t thread;
    bool running;
    conn *conns;
    tag listen_tag, wake_tag, timer_tag;

    pthread_mutex_t mu; /* guards stats and path */
    specx_netem_stats stats;
    sx_netem_path path[2]; /* the link's two directions */
};

/* ---- helpers --------------------------------------------------------------- */

static specx_status split_host_port(const char *s, char *host, size_t hlen, char *port, size_t plen,
                                    specx_err *err)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || colon[1] == '\0') {
        return specx_err_set(err, SPECX_EINVAL, "netem: target '%s' is not HOST:PORT", s);
    }
    const char *h = s;
    size_t n = (size_t)(colon - s);
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n >= hlen || strlen(colon + 1) >= plen) {
        return specx_err_set(err, SPECX_EINVAL, "netem: target '%s' is too long", s);
    }
    memcpy(host, h, n);
    host[n] = '\0';
    strcpy(port, colon + 1);
    return SPECX_OK;
}

static void set_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void close_fd(int *fd, bool reset)
{
    if (*fd < 0) {
        return;
    }
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(*fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(*fd);
    *fd = -1;
}

/* ---- connections ---------------------------------------------------------- */

static void conn_free(specx_netem *nx, conn *c)
{
    for (int s = 0; s < 2; s++) {
        if (c->registered[s]) {
            epoll_ctl(nx->epfd, EPOLL_CTL_DEL, c->fd[s], NULL);
        }
        close_fd(&c->fd[s], c->error);
        chunk *k = c->p[s].head;
        while (k) {
            chunk *nk = k->next;
            free(k);
            k = nk;
        }
    }
    sx_netem_h2_reqs_clear(&c->reqs);
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        nx->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    pthread_mutex_lock(&nx->mu);
    nx->stats.active--;
    if (c->error) {
        if (c->connecting) {
            nx->stats.connect_failures++;
        } else {
            nx->stats.connection_errors++;
        }
    }
    pthread_mutex_unlock(&nx->mu);
    free(c);
}

static void update_interest(specx_netem *nx, conn *c)
{
    for (int s = 0; s < 2; s++) {
        if (c->fd[s] < 0) {
            continue;
        }
        pipe_dir *rd = &c->p[s];     /* reads this socket */
        pipe_dir *wr = &c->p[1 - s]; /* writes this socket */
        if (rd->eof && wr->shut) {
            /* Both halves of this socket are finished: epoll would report
             * EPOLLHUP forever, so stop watching it. */
            if (c->registered[s]) {
                epoll_ctl(nx->epfd, EPOLL_CTL_DEL, c->fd[s], NULL);
                c->registered[s] = false;
            }
            continue;
        }
        bool connecting = s == 1 && c->connecting;
        uint32_t ev = 0;
        if (!rd->eof && rd->queued < BACKLOG_LIMIT && !connecting) {
            ev |= EPOLLIN;
        }
        if (connecting || wr->blocked) {
            ev |= EPOLLOUT;
        }
        if (!c->registered[s]) {
            struct epoll_event e = {.events = ev, .data.ptr = &c->tags[s]};
            if (epoll_ctl(nx->epfd, EPOLL_CTL_ADD, c->fd[s], &e) == 0) {
                c->registered[s] = true;
                c->events[s] = ev;
            } else {
                c->dead = c->error = true;
            }
        } else if (ev != c->events[s]) {
            struct epoll_event e = {.events = ev, .data.ptr = &c->tags[s]};
            epoll_ctl(nx->epfd, EPOLL_CTL_MOD, c->fd[s], &e);
            c->events[s] = ev;
        }
    }
}

static void accept_all(specx_netem *nx)
{
    for (;;) {
        int cfd = accept4(nx->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            return; /* EAGAIN, or a transient error such as EMFILE: try next wake-up */
        }
        conn *c = calloc(1, sizeof *c);
        int sfd = socket(nx->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (!c || sfd < 0) {
            free(c);
            if (sfd >= 0) {
                close(sfd);
            }
            close_fd(&cfd, true);
            continue;
        }
        set_nodelay(cfd);
        set_nodelay(sfd);
        c->fd[0] = cfd;
        c->fd[1] = sfd;
        for (int s = 0; s < 2; s++) {
            c->tags[s] = (tag){.kind = TAG_SOCK, .c = c, .side = s};
            sx_netem_h2_scan_init(&c->h2[s], s == SPECX_NETEM_UP);
        }
        c->next = nx->conns;
        if (nx->conns) {
            nx->conns->prev = c;
        }
        nx->conns = c;
        pthread_mutex_lock(&nx->mu);
        nx->stats.connections++;
        nx->stats.active++;
        pthread_mutex_unlock(&nx->mu);
        if (connect(sfd, (struct sockaddr *)&nx->target, nx->target_len) == 0) {
            c->connecting = false;
        } else if (errno == EINPROGRESS) {
            c->connecting = true;
        } else {
            c->connecting = true; /* counted as a connect failure */
            c->dead = c->error = true;
        }
        update_interest(nx, c);
    }
}

/* What an HTTP/2 frame boundary means for request timing (called under mu). */
typedef struct h2_ctx {
    specx_netem *nx;
    conn *c;
    int d;
    specx_time_t now, release;
} h2_ctx;

static void on_h2_frame(void *arg, const sx_netem_h2_frame *f, bool end)
{
    h2_ctx *x = arg;
    bool stream_frame = f->type == SX_NETEM_H2_HEADERS || f->type == SX_NETEM_H2_DATA;
    specx_time_t start;
    if (f->stream == 0) {
        return;
    }
    if (f->type == SX_NETEM_H2_RST_STREAM) {
        sx_netem_h2_reqs_finish(&x->c->reqs, f->stream, &start); /* abandoned: not timed */
    } else if (x->d == SPECX_NETEM_UP && !end && stream_frame) {
        sx_netem_h2_reqs_start(&x->c->reqs, f->stream, x->now);
    } else if (x->d == SPECX_NETEM_DOWN && end && stream_frame &&
               (f->flags & SX_NETEM_H2_END_STREAM) &&
               sx_netem_h2_reqs_finish(&x->c->reqs, f->stream, &start)) {
        specx_hist_record(&x->nx->stats.request_rtt_ns, x->release - start);
    }
}

static void track_requests(specx_netem *nx, conn *c, int d, const uint8_t *buf, size_t len,
                           specx_time_t now, specx_time_t release)
{
    const sx_netem_h2_scan *client = &c->h2[SPECX_NETEM_UP];
    if (client->failed) {
        return; /* not HTTP/2 */
    }
    /* The server side is scanned from its first byte even before the client
     * preface is complete: its frames must be followed from the start. */
    h2_ctx x = {.nx = nx, .c = c, .d = d, .now = now, .release = release};
    sx_netem_h2_scan_feed(&c->h2[d], buf, len, on_h2_frame, &x);
    if (!c->h2_counted && !client->failed && client->preface_left == 0) {
        c->h2_counted = true;
        nx->stats.http2_connections++;
    }
}

static void enqueue(specx_netem *nx, conn *c, int d, const uint8_t *buf, size_t len,
                    specx_time_t now)
{
    pipe_dir *p = &c->p[d];
    chunk *k = malloc(sizeof *k + len);
    if (!k) {
        c->dead = c->error = true;
        return;
    }
    memcpy(k->data, buf, len);
    k->len = len;
    k->off = 0;
    k->next = NULL;

    pthread_mutex_lock(&nx->mu);
    k->release = sx_netem_path_send(&nx->path[d], now, len, &p->floor);
    specx_hist_record(&nx->stats.dir[d].delay_ns, k->release - now);
    nx->stats.dir[d].chunks++;
    track_requests(nx, c, d, buf, len, now, k->release);
    pthread_mutex_unlock(&nx->mu);

    if (p->tail) {
        p->tail->next = k;
    } else {
        p->head = k;
    }
    p->tail = k;
    p->queued += len;
}

static void read_side(specx_netem *nx, conn *c, int s)
{
    pipe_dir *p = &c->p[s];
    if (p->eof || c->dead) {
        return;
    }
    uint8_t buf[SX_NETEM_CHUNK_MAX];
    ssize_t n = recv(c->fd[s], buf, sx_netem_path_chunk_max(&nx->path[s]), 0);
    if (n > 0) {
        enqueue(nx, c, s, buf, (size_t)n, specx_time_mono());
    } else if (n == 0) {
        p->eof = true;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        c->dead = c->error = true;
    }
}

/* Writes what is due in direction d; shuts the destination once drained. */
static void flush_dir(specx_netem *nx, conn *c, int d, specx_time_t now)
{
    pipe_dir *p = &c->p[d];
    int dst = c->fd[1 - d];
    if (c->connecting || c->dead) {
        return;
    }
    while (p->head && !p->blocked && p->head->release <= now) {
        chunk *k = p->head;
        ssize_t n = send(dst, k->data + k->off, k->len - k->off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                p->blocked = true;
            } else if (errno != EINTR) {
                c->dead = c->error = true;
            }
            return;
        }
        k->off += (size_t)n;
        pthread_mutex_lock(&nx->mu);
        nx->stats.dir[d].bytes += (uint64_t)n;
        pthread_mutex_unlock(&nx->mu);
        if (k->off == k->len) {
            p->head = k->next;
            if (!p->head) {
                p->tail = NULL;
            }
            p->queued -= k->len;
            free(k);
        }
    }
    if (p->eof && !p->head && !p->shut) {
        shutdown(dst, SHUT_WR);
        p->shut = true;
    }
}

static void on_socket_event(specx_netem *nx, conn *c, int s, uint32_t ev)
{
    if (c->dead) {
        return;
    }
    if (s == 1 && c->connecting) {
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            int soerr = 0;
            socklen_t len = sizeof soerr;
            getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &soerr, &len);
            if (soerr != 0) {
                c->dead = c->error = true; /* stays `connecting`: counted as connect failure */
                return;
            }
            c->connecting = false;
        }
        return;
    }
    if (ev & EPOLLERR) {
        c->dead = c->error = true;
        return;
    }
    if (ev & EPOLLOUT) {
        c->p[1 - s].blocked = false;
    }
    if (ev & EPOLLIN) {
        read_side(nx, c, s);
    } else if (ev & EPOLLHUP) {
        if (!c->p[s].eof) {
            read_side(nx, c, s);
        } else {
            c->dead = c->error = true; /* peer gone while we still had to write to it */
        }
    }
}

static specx_time_t next_due(specx_netem *nx)
{
    specx_time_t due = SPECX_TIME_NEVER;
    for (conn *c = nx->conns; c; c = c->next) {
        if (c->connecting) {
            continue;
        }
        for (int d = 0; d < 2; d++) {
            const pipe_dir *p = &c->p[d];
            if (p->head && !p->blocked && p->head->release < due) {
                due = p->head->release;
            }
        }
    }
    return due;
}

static void arm_timer(specx_netem *nx, specx_time_t due)
{
    if (due == nx->timer_armed) {
        return;
    }
    struct itimerspec its = {0};
    if (due != SPECX_TIME_NEVER) {
        /* A zero it_value disarms: a due time already past still needs a
         * non-zero value, which fires at once. */
        specx_time_t t = due > 0 ? due : 1;
        its.it_value.tv_sec = t / 1000000000;
        its.it_value.tv_nsec = t % 1000000000;
    }
    timerfd_settime(nx->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
    nx->timer_armed = due;
}

static void *loop_main(void *arg)
{
    specx_netem *nx = arg;
    struct epoll_event evs[64];
    bool stop = false;
    while (!stop) {
        arm_timer(nx, next_due(nx));
        int n = epoll_wait(nx->epfd, evs, 64, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        for (int i = 0; i < n; i++) {
            tag *t = evs[i].data.ptr;
            switch (t->kind) {
            case TAG_LISTEN:
                accept_all(nx);
                break;
            case TAG_WAKE:
                stop = true;
                break;
            case TAG_TIMER: {
                uint64_t ticks;
                ssize_t r = read(nx->timer_fd, &ticks, sizeof ticks);
                (void)r;
                nx->timer_armed = SPECX_TIME_NEVER; /* one-shot: it has fired */
                break;
            }
            case TAG_SOCK:
                on_socket_event(nx, t->c, t->side, evs[i].events);
                break;
            }
        }
        specx_time_t now = specx_time_mono();
        conn *next;
        for (conn *c = nx->conns; c; c = next) {
            next = c->next;
            flush_dir(nx, c, SPECX_NETEM_UP, now);
            flush_dir(nx, c, SPECX_NETEM_DOWN, now);
            if (c->p[0].shut && c->p[1].shut) {
                c->dead = true;
            }
            if (c->dead) {
                conn_free(nx, c);
            } else {
                update_interest(nx, c);
            }
        }
        pthread_mutex_lock(&nx->mu);
        sx_netem_outage_prune(&nx->path[0].outage, now);
        sx_netem_outage_prune(&nx->path[1].outage, now);
        pthread_mutex_unlock(&nx->mu);
    }
    /* Freeze the outage totals at the stop time. */
    specx_time_t now = specx_time_mono();
    pthread_mutex_lock(&nx->mu);
    for (int d = 0; d < 2; d++) {
        nx->stats.outage_ns[d] = sx_netem_outage_elapsed(&nx->path[d].outage, now);
    }
    pthread_mutex_unlock(&nx->mu);
    while (nx->conns) {
        conn_free(nx, nx->conns);
    }
    return NULL;
}

/* ---- public API ---------------------------------------------------------- */

static specx_status open_listen(specx_netem *nx, const specx_netem_config *cfg, specx_err *err)
{
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->listen_port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    const char *host = cfg->listen_host ? cfg->listen_host : "127.0.0.1";
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        return specx_err_set(err, SPECX_EINVAL, "netem: cannot resolve listen address %s:%s: %s",
                             host, port, gai_strerror(rc));
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
        }
        freeaddrinfo(res);
        return specx_err_set(err, SPECX_EUNAVAILABLE, "netem: cannot listen on %s:%s: %s", host,
                             port, strerror(e));
    }
    freeaddrinfo(res);
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } addr;
    memset(&addr, 0, sizeof addr);
    socklen_t len = sizeof addr;
    if (getsockname(fd, &addr.sa, &len) != 0) {
        int e = errno;
        close(fd);
        return specx_err_set(err, SPECX_EUNAVAILABLE, "netem: cannot read the port of %s:%s: %s",
                             host, port, strerror(e));
    }
    nx->port = addr.sa.sa_family == AF_INET6 ? ntohs(addr.in6.sin6_port) : ntohs(addr.in4.sin_port);
    nx->listen_fd = fd;
    return SPECX_OK;
}

static specx_status resolve_target(specx_netem *nx, const char *target, specx_err *err)
{
    char host[256], port[32];
    specx_status st = split_host_port(target, host, sizeof host, port, sizeof port, err);
    if (st != SPECX_OK) {
        return st;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        return specx_err_set(err, SPECX_EINVAL, "netem: cannot resolve target %s: %s", target,
                             gai_strerror(rc));
    }
    memcpy(&nx->target, res->ai_addr, res->ai_addrlen);
    nx->target_len = res->ai_addrlen;
    freeaddrinfo(res);
    return SPECX_OK;
}

static void netem_release(specx_netem *nx)
{
    int *fds[] = {&nx->listen_fd, &nx->epfd, &nx->wake_fd, &nx->timer_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
    }
    sx_netem_path_clear(&nx->path[0]); /* zeroed (calloc) if never initialised */
    sx_netem_path_clear(&nx->path[1]);
    specx_netem_profile_free(nx->profile);
    pthread_mutex_destroy(&nx->mu);
    free(nx);
}

specx_status specx_netem_start(const specx_netem_config *cfg, specx_netem **out, specx_err *err)
{
    *out = NULL;
    if (!cfg || !cfg->target || cfg->listen_port < 0 || cfg->listen_port > 65535) {
        return specx_err_set(err, SPECX_EINVAL,
                             "netem: a target HOST:PORT and a listen port in "
                             "0..65535 are required");
    }
    specx_netem *nx = calloc(1, sizeof *nx);
    if (!nx) {
        return specx_err_set(err, SPECX_ENOMEM, "netem: out of memory");
    }
    nx->listen_fd = nx->epfd = nx->wake_fd = nx->timer_fd = -1;
    nx->timer_armed = SPECX_TIME_NEVER;
    pthread_mutex_init(&nx->mu, NULL);
    specx_hist_init(&nx->stats.dir[0].delay_ns);
    specx_hist_init(&nx->stats.dir[1].delay_ns);
    specx_hist_init(&nx->stats.request_rtt_ns);
    specx_status st = cfg->profile ? sx_netem_profile_copy(cfg->profile, &nx->profile, err)
                                   : sx_netem_profile_new_default(&nx->profile, err);
    if (st == SPECX_OK) {
        st = resolve_target(nx, cfg->target, err);
    }
    if (st == SPECX_OK) {
        st = open_listen(nx, cfg, err);
    }
    if (st == SPECX_OK) {
        nx->epfd = epoll_create1(EPOLL_CLOEXEC);
        nx->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        nx->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (nx->epfd < 0 || nx->wake_fd < 0 || nx->timer_fd < 0) {
            st = specx_err_set(err, SPECX_EINTERNAL, "netem: epoll/eventfd/timerfd: %s",
                               strerror(errno));
        }
    }
    if (st == SPECX_OK) {
        nx->listen_tag.kind = TAG_LISTEN;
        nx->wake_tag.kind = TAG_WAKE;
        nx->timer_tag.kind = TAG_TIMER;
        struct {
            int fd;
            tag *t;
        } regs[] = {{nx->listen_fd, &nx->listen_tag},
                    {nx->wake_fd, &nx->wake_tag},
                    {nx->timer_fd, &nx->timer_tag}};
        for (size_t i = 0; i < 3 && st == SPECX_OK; i++) {
            struct epoll_event e = {.events = EPOLLIN, .data.ptr = regs[i].t};
            if (epoll_ctl(nx->epfd, EPOLL_CTL_ADD, regs[i].fd, &e) != 0) {
                st = specx_err_set(err, SPECX_EINTERNAL, "netem: epoll_ctl: %s", strerror(errno));
            }
        }
    }
    if (st == SPECX_OK) {
        nx->origin = specx_time_mono();
        for (int d = 0; d < 2; d++) {
            sx_netem_path_init(&nx->path[d], &nx->profile->dir[d], cfg->seed, (specx_netem_dir)d,
                               nx->origin);
        }
        int rc = pthread_create(&nx->thread, NULL, loop_main, nx);
        if (rc != 0) {
            st =
                specx_err_set(err, SPECX_EINTERNAL, "netem: cannot start thread: %s", strerror(rc));
        } else {
            nx->running = true;
        }
    }
    if (st != SPECX_OK) {
        netem_release(nx);
        return st;
    }
    *out = nx;
    return SPECX_OK;
}

int specx_netem_port(const specx_netem *link)
{
    return link->port;
}

void specx_netem_stats_get(specx_netem *link, specx_netem_stats *out)
{
    pthread_mutex_lock(&link->mu);
    *out = link->stats;
    if (link->running) {
        specx_time_t now = specx_time_mono();
        for (int d = 0; d < 2; d++) {
            out->outage_ns[d] = sx_netem_outage_elapsed(&link->path[d].outage, now);
        }
    }
    pthread_mutex_unlock(&link->mu);
}

void specx_netem_stats_print(const specx_netem_stats *st, FILE *out)
{
    fprintf(out, "netem: %llu connections (%llu open, %llu connect failures, %llu errors)\n",
            (unsigned long long)st->connections, (unsigned long long)st->active,
            (unsigned long long)st->connect_failures, (unsigned long long)st->connection_errors);
    static const char *names[2] = {"up", "down"};
    fprintf(out, "  per chunk (one socket read; release - read, all causes):\n");
    fprintf(out, "  %-5s %12s %8s %9s %9s %9s %9s %10s\n", "dir", "bytes", "chunks", "p50_ms",
            "p90_ms", "p99_ms", "max_ms", "outage_ms");
    for (int d = 0; d < 2; d++) {
        const specx_netem_dir_stats *s = &st->dir[d];
        fprintf(out, "  %-5s %12llu %8llu %9.2f %9.2f %9.2f %9.2f %10.1f\n", names[d],
                (unsigned long long)s->bytes, (unsigned long long)s->chunks,
                specx_dur_ms(specx_hist_quantile(&s->delay_ns, 0.5)),
                specx_dur_ms(specx_hist_quantile(&s->delay_ns, 0.9)),
                specx_dur_ms(specx_hist_quantile(&s->delay_ns, 0.99)),
                specx_dur_ms(s->delay_ns.count ? s->delay_ns.max : 0),
                specx_dur_ms(st->outage_ns[d]));
    }
    const specx_hist *r = &st->request_rtt_ns;
    if (r->count == 0) {
        fprintf(out, "  requests: %s\n",
                st->http2_connections ? "none completed on the HTTP/2 connections"
                                      : "not HTTP/2 traffic, so not told apart: the figures above "
                                        "are per chunk, not per request");
        return;
    }
    fprintf(out,
            "  requests (HTTP/2 streams on %llu connections; first byte read from the client -> "
            "end of reply released to it):\n"
            "  %12llu requests  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n",
            (unsigned long long)st->http2_connections, (unsigned long long)r->count,
            specx_dur_ms(specx_hist_quantile(r, 0.5)), specx_dur_ms(specx_hist_quantile(r, 0.9)),
            specx_dur_ms(specx_hist_quantile(r, 0.99)), specx_dur_ms(r->max));
}

void specx_netem_stop(specx_netem *link)
{
    if (!link->running) {
        return;
    }
    uint64_t one = 1;
    ssize_t r = write(link->wake_fd, &one, sizeof one);
    (void)r;
    pthread_join(link->thread, NULL);
    pthread_mutex_lock(&link->mu);
    link->running = false;
    pthread_mutex_unlock(&link->mu);
}

void specx_netem_destroy(specx_netem *link)
{
    if (!link) {
        return;
    }
    specx_netem_stop(link);
    netem_release(link);
}
