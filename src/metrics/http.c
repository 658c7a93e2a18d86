/* http.c — GET /metrics over HTTP with libmicrohttpd.
 *
 * Design notes
 *  - The listening socket is made here (so the bound port can be read back
 *    and a failed bind is reported with its address and reason) and handed
 *    to libmicrohttpd, which closes it on stop.
 *  - One internal polling thread serves every connection; a scrape renders
 *    in that thread. The thread is started with every signal blocked, so
 *    signals reach only the owner's threads. libmicrohttpd sends with
 *    MSG_NOSIGNAL on Linux: a peer closing early raises no SIGPIPE.
 *  - Limits keep a misbehaving scraper cheap: a few connections, a short
 *    idle timeout; a request body is never read. */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "specx/metrics.h"

#define MAX_CONNECTIONS 16
#define IDLE_TIMEOUT_S 10

struct specx_metrics_http {
    specx_metrics *m;
    struct MHD_Daemon *daemon;
    int port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *body,
                             const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
                                                             MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (allow != NULL) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    }
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static void free_text(void *text)
{
    specx_metrics_text_free(text);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    specx_metrics_http *h = cls;
    if (strcmp(url, "/metrics") != 0) {
        return reply(c, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n", NULL);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "GET, HEAD");
    }
    char *text = NULL;
    size_t len = 0;
    if (specx_metrics_render(h->m, &text, &len, NULL) != SPECX_OK) {
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(len, text, free_text);
    if (r == NULL) {
        specx_metrics_text_free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, SPECX_METRICS_CONTENT_TYPE);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* "HOST:PORT" or "[V6]:PORT" into host (empty for the wildcard) and port. */
static specx_status split_addr(const char *addr, char *host, size_t hcap, char *port, size_t pcap,
                               specx_err *err)
{
    const char *colon = NULL;
    const char *h = addr;
    size_t hlen = 0;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        colon = close != NULL && close[1] == ':' ? close + 1 : NULL;
        h = addr + 1;
        hlen = close != NULL ? (size_t)(close - h) : 0;
    } else {
        colon = strrchr(addr, ':');
        hlen = colon != NULL ? (size_t)(colon - addr) : 0;
        if (colon != NULL && memchr(addr, ':', hlen) != NULL) {
            colon = NULL; /* a bare IPv6 address needs brackets */
        }
    }
    const char *p = colon != NULL ? colon + 1 : "";
    size_t plen = strlen(p);
    bool digits = plen > 0 && plen < 6 && strspn(p, "0123456789") == plen;
    if (colon == NULL || !digits || atoi(p) > 65535 || hlen >= hcap || plen >= pcap) {
        return specx_err_set(err, SPECX_EINVAL,
                             "metrics: bad address '%s' (want HOST:PORT or [IPV6]:PORT, port "
                             "0-65535, 0 = any free port)",
                             addr);
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, p, plen + 1);
    return SPECX_OK;
}

/* A listening socket bound to addr in *out, its port in *port. */
static specx_status listen_on(const char *addr, int *out, int *port, specx_err *err)
{
    char host[256], serv[8];
    specx_status st = split_addr(addr, host, sizeof host, serv, sizeof serv, err);
    if (st != SPECX_OK) {
        return st;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host[0] != '\0' ? host : NULL, serv, &hints, &res);
    if (rc != 0) {
        return specx_err_set(err, SPECX_EINVAL, "metrics: cannot resolve '%s': %s", addr,
                             gai_strerror(rc));
    }
    int fd = -1, why = 0;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        int one = 1;
        if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
                        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0)) {
            why = errno;
            close(fd);
            fd = -1;
        } else if (fd < 0) {
            why = errno;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        return specx_err_set(err, SPECX_EIO, "metrics: cannot listen on %s: %s", addr,
                             strerror(why));
    }
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } u;
    memset(&u, 0, sizeof u);
    socklen_t sl = sizeof u;
    if (getsockname(fd, &u.sa, &sl) != 0) {
        int why = errno;
        close(fd);
        return specx_err_set(err, SPECX_EIO, "metrics: %s: getsockname: %s", addr, strerror(why));
    }
    *port = ntohs(u.sa.sa_family == AF_INET6 ? u.in6.sin6_port : u.in.sin_port);
    *out = fd;
    return SPECX_OK;
}

specx_status specx_metrics_http_open(specx_metrics *m, const char *addr, specx_metrics_http **out,
                                     specx_err *err)
{
    if (m == NULL || addr == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "metrics: no registry or address");
    }
    specx_metrics_http *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "metrics: out of memory");
    }
    h->m = m;
    int fd = -1;
    specx_status st = listen_on(addr, &fd, &h->port, err);
    if (st != SPECX_OK) {
        free(h);
        return st;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* inherited by the daemon's thread */
    h->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, handle, h,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (h->daemon == NULL) {
        close(fd);
        free(h);
        return specx_err_set(err, SPECX_EINTERNAL, "metrics: cannot start the HTTP server on %s",
                             addr);
    }
    *out = h;
    return SPECX_OK;
}

int specx_metrics_http_port(const specx_metrics_http *h)
{
    return h->port;
}

void specx_metrics_http_close(specx_metrics_http *h)
{
    if (h == NULL) {
        return;
    }
    MHD_stop_daemon(h->daemon);
    free(h);
}
