/* http_get.h — a plain-socket HTTP/1.0 client for tests: one request, the
 * whole reply read until the server closes. Blocking, with send/receive
 * timeouts scaled by SPECX_TEST_TIMEOUT_SCALE; not thread-safe per reply. */
#ifndef SPECX_TEST_HTTP_GET_H
#define SPECX_TEST_HTTP_GET_H

#include <stddef.h>

typedef struct http_reply {
    int status; /* from the status line; 0 if none */
    char *head; /* status line and headers, NUL-terminated */
    char *body; /* NUL-terminated; body_len bytes */
    size_t body_len;
} http_reply;

/* Sends "METHOD PATH HTTP/1.0" (plus extra header lines, "" for none, each
 * ending in \r\n) to host:port and reads the reply. 0 on success, -1 with a
 * reason in why (cap bytes) on a connection or read failure. */
int http_request(const char *host, int port, const char *method, const char *path,
                 const char *extra, http_reply *r, char *why, size_t cap);

/* The value of header name (case-insensitive) copied into buf, or NULL. */
const char *http_header(const http_reply *r, const char *name, char *buf, size_t cap);

void http_reply_clear(http_reply *r);

#endif
