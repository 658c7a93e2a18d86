/* http_get.c — the tests' plain-socket HTTP/1.0 client; see http_get.h. */
#include "http_get.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "test_timeout.h"

static int connect_to(const char *host, int port, char *why, size_t cap)
{
    char serv[16];
    snprintf(serv, sizeof serv, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, serv, &hints, &res);
    if (rc != 0) {
        snprintf(why, cap, "resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    double t = 10 * specx_test_timeout_scale();
    struct timeval tv = {.tv_sec = (time_t)t, .tv_usec = 0};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
        connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        snprintf(why, cap, "connect %s:%d: %s", host, port, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

int http_request(const char *host, int port, const char *method, const char *path,
                 const char *extra, http_reply *r, char *why, size_t cap)
{
    memset(r, 0, sizeof *r);
    int fd = connect_to(host, port, why, cap);
    if (fd < 0) {
        return -1;
    }
    char req[4096];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: %s:%d\r\n%s\r\n", method, path, host,
                     port, extra);
    if (n < 0 || (size_t)n >= sizeof req || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(why, cap, "send: %s", strerror(errno));
        close(fd);
        return -1;
    }
    size_t len = 0, bcap = 8192;
    char *all = malloc(bcap);
    for (;;) {
        if (len + 4096 + 1 > bcap) {
            bcap *= 2;
            all = realloc(all, bcap);
        }
        ssize_t k = recv(fd, all + len, 4096, 0);
        if (k < 0) {
            snprintf(why, cap, "recv: %s", strerror(errno));
            free(all);
            close(fd);
            return -1;
        }
        if (k == 0) {
            break;
        }
        len += (size_t)k;
    }
    close(fd);
    all[len] = '\0';
    char *sep = strstr(all, "\r\n\r\n");
    if (sep == NULL) {
        snprintf(why, cap, "no end of headers in %zu bytes", len);
        free(all);
        return -1;
    }
    *sep = '\0';
    r->head = all;
    r->body = sep + 4;
    r->body_len = len - (size_t)(r->body - all);
    sscanf(all, "HTTP/%*s %d", &r->status);
    return 0;
}

const char *http_header(const http_reply *r, const char *name, char *buf, size_t cap)
{
    size_t k = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, k) == 0 && line[k] == ':') {
            const char *v = line + k + 1;
            v += strspn(v, " \t");
            size_t vl = strcspn(v, "\r\n");
            if (vl >= cap) {
                vl = cap - 1;
            }
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
    }
    return NULL;
}

void http_reply_clear(http_reply *r)
{
    free(r->head);
    memset(r, 0, sizeof *r);
}
