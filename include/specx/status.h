/* specx/status.h — the one error enum of specx, and a buffer for a message a
 * person can act on.
 *
 * Contract: every fallible specx function returns specx_status; SPECX_OK is 0.
 * A failing call leaves the object it was given unchanged unless its own
 * documentation says otherwise. Functions that can say more take an optional
 * `specx_err *` (may be NULL) and fill it with one line of text. */
#ifndef SPECX_STATUS_H
#define SPECX_STATUS_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum specx_status {
    SPECX_OK = 0,
    SPECX_EINVAL,       /* bad argument or bad input data */
    SPECX_ENOMEM,       /* allocation failed */
    SPECX_ETIMEDOUT,    /* a deadline passed */
    SPECX_ECANCELED,    /* cancelled by request */
    SPECX_ESTOPPED,     /* the object is shutting down or closed */
    SPECX_EUNAVAILABLE, /* peer or resource not reachable now */
    SPECX_EBUSY,        /* bound reached (queue full, in-flight limit) */
    SPECX_EIO,          /* I/O error (file, socket) */
    SPECX_ENOTFOUND,    /* file, model or name not found */
    SPECX_EFORMAT,      /* malformed file or payload (image, cfg, weights) */
    SPECX_ETOOBIG,      /* input larger than the configured limit */
    SPECX_EUNSUPPORTED, /* valid but not supported (unknown layer, codec) */
    SPECX_EINTERNAL,    /* a bug or an unexpected library failure */
    SPECX_EACCESS,      /* missing or wrong credentials, or not allowed */
    SPECX_STATUS_COUNT_
} specx_status;

/* Static, never NULL. Thread-safe. */
const char *specx_strerror(specx_status st);

/* Stable lower-case identifier ("ok", "deadline_exceeded", ...) for JSON output. */
const char *specx_status_name(specx_status st);

typedef struct specx_err {
    char msg[512];
} specx_err;

/* Formats into err (if non-NULL) and returns st, so call sites can write
 * `return specx_err_set(err, SPECX_EINVAL, "bad --port '%s'", s);`. */
specx_status specx_err_set(specx_err *err, specx_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
specx_status specx_err_vset(specx_err *err, specx_status st, const char *fmt, va_list ap);
#ifdef __clang_analyzer__
/* The static analyzer sees one file at a time: without this it assumes
 * specx_err_set may return SPECX_OK and walks error paths as success paths. */
#define specx_err_set(err, st, ...) ((specx_err_set)((err), (st), __VA_ARGS__), (st))
#endif

/* err->msg if set, else specx_strerror(st). */
const char *specx_err_text(const specx_err *err, specx_status st);

#ifdef __cplusplus
}
#endif
#endif
