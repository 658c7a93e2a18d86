/* auth/tokens.h — internal: the server's table of per-vehicle token hashes
 * (loaded from a token file, swapped whole on reload), bearer-header
 * parsing, SHA-256 and a constant-time comparison.
 *
 * Contract
 *  - Token file: one "VEHICLE-ID sha256:<64 hex>" per line; '#' starts a
 *    comment (whole line or after the fields); blank lines are ignored. A
 *    vehicle may have several tokens (rotation); one hash may appear only
 *    once. A malformed file is refused whole, with the file name and line
 *    number in the message (and never a hash or token).
 *  - Lookup hashes the presented token and finds its entry through an index
 *    on the digest; the final comparison of digests is constant-time. It
 *    takes the holder's mutex only to take a reference on the current table
 *    (a pointer copy), so it never waits on a reload's file reading.
 *  - Reload reads and checks the whole file first, then swaps the table; a
 *    lookup in flight finishes on the table it started with, which is freed
 *    when its last reference goes. A failed reload keeps the old table and
 *    says why.
 *  - Thread-safe: lookups, reloads and counts from any threads. */
#ifndef SX_AUTH_TOKENS_H
#define SX_AUTH_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/auth.h"
#include "specx/status.h"

#define SX_AUTH_DIGEST_LEN 32

/* Equal lengths and bytes, in time that depends only on the two lengths. */
bool sx_auth_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* SHA-256 of data. */
void sx_auth_sha256(const void *data, size_t len, uint8_t out[SX_AUTH_DIGEST_LEN]);

/* The token of an "authorization" header value "Bearer TOKEN" (scheme
 * case-insensitive, spaces around ignored). value need not be
 * NUL-terminated. false when the value is not a bearer credential. */
bool sx_auth_bearer(const char *value, size_t len, const char **token, size_t *token_len);

typedef struct sx_auth_tokens sx_auth_tokens;

/* Loads path. SPECX_ENOTFOUND, SPECX_EIO, SPECX_EFORMAT (line N: why),
 * SPECX_ENOMEM. */
specx_status sx_auth_tokens_open(const char *path, sx_auth_tokens **out, specx_err *err);
/* Frees the holder; no lookup may be running. NULL is a no-op. */
void sx_auth_tokens_close(sx_auth_tokens *t);

/* Re-reads the file given to open. On failure the table in use stays. */
specx_status sx_auth_tokens_reload(sx_auth_tokens *t, specx_err *err);

/* The vehicle id of the presented token, copied into id (NUL-terminated),
 * or false when no entry matches. */
bool sx_auth_tokens_lookup(sx_auth_tokens *t, const void *token, size_t len,
                           char id[SPECX_AUTH_ID_MAX + 1]);

/* Entries (tokens) in the current table, and how many loads succeeded
 * (1 after open, +1 per successful reload). */
size_t sx_auth_tokens_count(sx_auth_tokens *t);
uint64_t sx_auth_tokens_generation(sx_auth_tokens *t);

#endif
