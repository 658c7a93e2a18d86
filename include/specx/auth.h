/* specx/auth.h — per-vehicle bearer tokens: making one, the line a server's
 * token file holds for it, and reading one on the client side.
 *
 * Contract
 *  - A token is "sxt_" followed by 43 base64url characters (256 random bits
 *    from the kernel). The server stores only its hash, written
 *    "sha256:<64 lowercase hex>" (SHA-256 of the token's bytes): see
 *    docs/security.md for why a fast unsalted hash is right for random
 *    tokens.
 *  - A token file line is "VEHICLE-ID sha256:<hex>"; a vehicle id is 1 to
 *    SPECX_AUTH_ID_MAX characters from [A-Za-z0-9._-] (it becomes a metric
 *    label and a log field).
 *  - Clients read a token from a file or an environment variable, never from
 *    the command line. Reading trims surrounding whitespace and accepts only
 *    bearer-token characters ([A-Za-z0-9-._~+/] then '=' padding). No error
 *    message ever contains a token's characters.
 *  - specx_token holds a secret: clear it with specx_token_clear when done.
 *  - All functions are thread-safe and do not block beyond reading a file
 *    or the kernel's random source. */
#ifndef SPECX_AUTH_H
#define SPECX_AUTH_H

#include <stddef.h>

#include "specx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SPECX_TOKEN_MAX 256        /* bytes of a token */
#define SPECX_AUTH_ID_MAX 64       /* bytes of a vehicle id */
#define SPECX_TOKEN_HASH_STRLEN 71 /* "sha256:" + 64 hex digits */
#define SPECX_TOKEN_PREFIX "sxt_"

typedef struct specx_token {
    char s[SPECX_TOKEN_MAX + 1]; /* NUL-terminated */
    size_t len;
} specx_token;

/* A new random token. SPECX_EIO if the kernel's random source fails. */
specx_status specx_token_generate(specx_token *tok, specx_err *err);

/* "sha256:<hex>" of the token into out (SPECX_TOKEN_HASH_STRLEN + 1 bytes). */
void specx_token_hash(const specx_token *tok, char *out);

/* The token file line for (id, tok), "ID sha256:<hex>\n", into line.
 * SPECX_EINVAL for a bad id, SPECX_ETOOBIG when cap is too small. */
specx_status specx_token_file_line(const char *id, const specx_token *tok, char *line, size_t cap,
                                   specx_err *err);

/* A token from a file (its only content, surrounding whitespace ignored).
 * SPECX_ENOTFOUND, SPECX_EIO, SPECX_EFORMAT (empty, bad characters),
 * SPECX_ETOOBIG. On failure *tok is cleared. */
specx_status specx_token_read_file(const char *path, specx_token *tok, specx_err *err);

/* A token from the environment variable name; errors as for a file, with
 * SPECX_ENOTFOUND when the variable is not set. */
specx_status specx_token_read_env(const char *name, specx_token *tok, specx_err *err);

/* Overwrites the token so it does not linger in memory. */
void specx_token_clear(specx_token *tok);

/* SPECX_OK when id is a valid vehicle id, else SPECX_EINVAL saying why. */
specx_status specx_auth_id_check(const char *id, specx_err *err);

#ifdef __cplusplus
}
#endif
#endif
