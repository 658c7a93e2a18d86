/* status.c — error names and the one-line error buffer. */
#include "specx/status.h"

#include <stdio.h>

static const char *const messages[SPECX_STATUS_COUNT_] = {
    [SPECX_OK] = "success",
    [SPECX_EINVAL] = "invalid argument",
    [SPECX_ENOMEM] = "out of memory",
    [SPECX_ETIMEDOUT] = "deadline exceeded",
    [SPECX_ECANCELED] = "cancelled",
    [SPECX_ESTOPPED] = "stopped",
    [SPECX_EUNAVAILABLE] = "unavailable",
    [SPECX_EBUSY] = "busy (limit reached)",
    [SPECX_EIO] = "input/output error",
    [SPECX_ENOTFOUND] = "not found",
    [SPECX_EFORMAT] = "malformed data",
    [SPECX_ETOOBIG] = "too large",
    [SPECX_EUNSUPPORTED] = "not supported",
    [SPECX_EINTERNAL] = "internal error",
    [SPECX_EACCESS] = "not authenticated or not allowed",
};

static const char *const names[SPECX_STATUS_COUNT_] = {
    [SPECX_OK] = "ok",
    [SPECX_EINVAL] = "invalid_argument",
    [SPECX_ENOMEM] = "out_of_memory",
    [SPECX_ETIMEDOUT] = "deadline_exceeded",
    [SPECX_ECANCELED] = "cancelled",
    [SPECX_ESTOPPED] = "stopped",
    [SPECX_EUNAVAILABLE] = "unavailable",
    [SPECX_EBUSY] = "busy",
    [SPECX_EIO] = "io_error",
    [SPECX_ENOTFOUND] = "not_found",
    [SPECX_EFORMAT] = "malformed",
    [SPECX_ETOOBIG] = "too_large",
    [SPECX_EUNSUPPORTED] = "unsupported",
    [SPECX_EINTERNAL] = "internal",
    [SPECX_EACCESS] = "access_denied",
};

const char *specx_strerror(specx_status st)
{
    if ((unsigned)st >= SPECX_STATUS_COUNT_) {
        return "unknown status";
    }
    return messages[st];
}

const char *specx_status_name(specx_status st)
{
    if ((unsigned)st >= SPECX_STATUS_COUNT_) {
        return "unknown";
    }
    return names[st];
}

specx_status specx_err_vset(specx_err *err, specx_status st, const char *fmt, va_list ap)
{
    if (err != NULL) {
        // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): ap is the caller's started list
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return st;
}

specx_status(specx_err_set)(specx_err *err, specx_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    specx_err_vset(err, st, fmt, ap);
    va_end(ap);
    return st;
}

const char *specx_err_text(const specx_err *err, specx_status st)
{
    if (err != NULL && err->msg[0] != '\0') {
        return err->msg;
    }
    return specx_strerror(st);
}
