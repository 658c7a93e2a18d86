/* tokens.c — the server's token table: parse a token file, look a presented
 * token up, swap the table whole on reload.
 *
 * Design notes
 *  - A table is immutable once built and refcounted. The holder's mutex
 *    guards only the pointer to the current table: a lookup takes a
 *    reference under it (a copy and an increment), hashes and searches with
 *    no lock, then drops the reference; reload builds the new table with no
 *    lock, swaps the pointer under it, and drops the holder's reference to
 *    the old one. The last reference frees a table.
 *  - The index is open addressing keyed by the digest's first 8 bytes. The
 *    probe's timing depends on the stored digests, not on the secret
 *    tokens: learning where SHA-256 outputs collide in a table does not help
 *    find a token that hashes to an entry. The final digest comparison is
 *    constant-time all the same. */
#include "auth/tokens.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    uint8_t digest[SX_AUTH_DIGEST_LEN];
    char id[SPECX_AUTH_ID_MAX + 1];
    int line;
} entry;

typedef struct table {
    atomic_long refs;
    size_t n, cap;
    entry *v;
    uint32_t *index; /* entry number + 1; 0 = empty */
    size_t mask;
} table;

struct sx_auth_tokens {
    pthread_mutex_t mu;
    table *cur;
    char *path;
    uint64_t generation;
};

static void table_unref(table *t)
{
    if (t != NULL && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) {
        if (t->v != NULL) {
            explicit_bzero(t->v, t->cap * sizeof *t->v);
        }
        free(t->v);
        free(t->index);
        free(t);
    }
}

static uint64_t digest_key(const uint8_t *d)
{
    uint64_t k;
    memcpy(&k, d, sizeof k);
    return k;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* "sha256:<64 hex>" into d; false when malformed. */
static bool parse_hash(const char *s, uint8_t d[SX_AUTH_DIGEST_LEN])
{
    if (strncmp(s, "sha256:", 7) != 0 || strlen(s + 7) != 2 * SX_AUTH_DIGEST_LEN) {
        return false;
    }
    for (size_t i = 0; i < SX_AUTH_DIGEST_LEN; i++) {
        int hi = hexval(s[7 + 2 * i]), lo = hexval(s[8 + 2 * i]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        d[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static specx_status table_add(table *t, const entry *e, const char *path, specx_err *err)
{
    if (t->n == t->cap) {
        size_t cap = t->cap > 0 ? 2 * t->cap : 16;
        entry *v = realloc(t->v, cap * sizeof *v);
        if (v == NULL) {
            return specx_err_set(err, SPECX_ENOMEM, "%s: out of memory", path);
        }
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = *e;
    return SPECX_OK;
}

/* One line (NUL-terminated, comment stripped by the caller) into t. */
static specx_status parse_line(table *t, char *line, int lineno, const char *path, specx_err *err)
{
    char *save = NULL;
    char *fields[3] = {NULL, NULL, NULL};
    int nf = 0;
    for (char *tok = strtok_r(line, " \t\r\n", &save); tok != NULL && nf < 3;
         tok = strtok_r(NULL, " \t\r\n", &save)) {
        fields[nf++] = tok;
    }
    if (nf == 0) {
        return SPECX_OK;
    }
    if (nf != 2) {
        return specx_err_set(err, SPECX_EFORMAT,
                             "%s:%d: want two fields 'VEHICLE-ID sha256:<64 hex digits>', got %s",
                             path, lineno, nf == 1 ? "one" : "more");
    }
    specx_err why = {{0}};
    if (specx_auth_id_check(fields[0], &why) != SPECX_OK) {
        return specx_err_set(err, SPECX_EFORMAT, "%s:%d: %s", path, lineno, why.msg);
    }
    entry e = {.line = lineno};
    if (!parse_hash(fields[1], e.digest)) {
        return specx_err_set(err, SPECX_EFORMAT,
                             "%s:%d: second field must be sha256:<64 hex digits> — the hash of "
                             "the token, never the token itself",
                             path, lineno);
    }
    memcpy(e.id, fields[0], strlen(fields[0]) + 1);
    specx_status st = table_add(t, &e, path, err);
    explicit_bzero(&e, sizeof e);
    return st;
}

/* Builds the index; refuses a hash listed twice. */
static specx_status table_index(table *t, const char *path, specx_err *err)
{
    size_t cap = 16;
    while (cap < 2 * t->n) {
        cap *= 2;
    }
    t->index = calloc(cap, sizeof *t->index);
    if (t->index == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "%s: out of memory", path);
    }
    t->mask = cap - 1;
    for (size_t i = 0; i < t->n; i++) {
        size_t s = (size_t)digest_key(t->v[i].digest) & t->mask;
        for (; t->index[s] != 0; s = (s + 1) & t->mask) {
            const entry *o = &t->v[t->index[s] - 1];
            if (memcmp(o->digest, t->v[i].digest, SX_AUTH_DIGEST_LEN) == 0) {
                return specx_err_set(err, SPECX_EFORMAT,
                                     "%s:%d: the same hash as line %d (one token, two entries)",
                                     path, t->v[i].line, o->line);
            }
        }
        t->index[s] = (uint32_t)(i + 1);
    }
    return SPECX_OK;
}

static specx_status table_load(const char *path, table **out, specx_err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return specx_err_set(err, errno == ENOENT ? SPECX_ENOTFOUND : SPECX_EIO,
                             "cannot open token file '%s': %s", path, strerror(errno));
    }
    table *t = calloc(1, sizeof *t);
    if (t == NULL) {
        fclose(f);
        return specx_err_set(err, SPECX_ENOMEM, "%s: out of memory", path);
    }
    atomic_init(&t->refs, 1);
    char *line = NULL;
    size_t lcap = 0;
    specx_status st = SPECX_OK;
    int lineno = 0;
    while (st == SPECX_OK && getline(&line, &lcap, f) >= 0) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash != NULL) {
            *hash = '\0';
        }
        st = parse_line(t, line, lineno, path, err);
    }
    if (st == SPECX_OK && ferror(f)) {
        st = specx_err_set(err, SPECX_EIO, "cannot read token file '%s'", path);
    }
    if (st == SPECX_OK && t->n > UINT32_MAX - 1) {
        st = specx_err_set(err, SPECX_ETOOBIG, "%s: too many entries", path);
    }
    if (st == SPECX_OK) {
        st = table_index(t, path, err);
    }
    if (line != NULL) {
        explicit_bzero(line, lcap);
    }
    free(line);
    fclose(f);
    if (st != SPECX_OK) {
        table_unref(t);
        return st;
    }
    *out = t;
    return SPECX_OK;
}

specx_status sx_auth_tokens_open(const char *path, sx_auth_tokens **out, specx_err *err)
{
    sx_auth_tokens *t = calloc(1, sizeof *t);
    if (t == NULL || (t->path = strdup(path)) == NULL) {
        free(t);
        return specx_err_set(err, SPECX_ENOMEM, "token file: out of memory");
    }
    specx_status st = table_load(path, &t->cur, err);
    if (st != SPECX_OK) {
        free(t->path);
        free(t);
        return st;
    }
    pthread_mutex_init(&t->mu, NULL);
    t->generation = 1;
    *out = t;
    return SPECX_OK;
}

void sx_auth_tokens_close(sx_auth_tokens *t)
{
    if (t == NULL) {
        return;
    }
    table_unref(t->cur);
    pthread_mutex_destroy(&t->mu);
    free(t->path);
    free(t);
}

specx_status sx_auth_tokens_reload(sx_auth_tokens *t, specx_err *err)
{
    table *fresh = NULL;
    specx_status st = table_load(t->path, &fresh, err);
    if (st != SPECX_OK) {
        return st;
    }
    pthread_mutex_lock(&t->mu);
    table *old = t->cur;
    t->cur = fresh;
    t->generation++;
    pthread_mutex_unlock(&t->mu);
    table_unref(old);
    return SPECX_OK;
}

static table *current(sx_auth_tokens *t)
{
    pthread_mutex_lock(&t->mu);
    table *c = t->cur;
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&t->mu);
    return c;
}

bool sx_auth_tokens_lookup(sx_auth_tokens *t, const void *token, size_t len,
                           char id[SPECX_AUTH_ID_MAX + 1])
{
    uint8_t d[SX_AUTH_DIGEST_LEN];
    sx_auth_sha256(token, len, d);
    table *c = current(t);
    bool found = false;
    for (size_t s = (size_t)digest_key(d) & c->mask; c->index[s] != 0; s = (s + 1) & c->mask) {
        const entry *e = &c->v[c->index[s] - 1];
        if (sx_auth_ct_equal(e->digest, SX_AUTH_DIGEST_LEN, d, SX_AUTH_DIGEST_LEN)) {
            memcpy(id, e->id, sizeof e->id);
            found = true;
            break;
        }
    }
    table_unref(c);
    explicit_bzero(d, sizeof d);
    return found;
}

size_t sx_auth_tokens_count(sx_auth_tokens *t)
{
    table *c = current(t);
    size_t n = c->n;
    table_unref(c);
    return n;
}

uint64_t sx_auth_tokens_generation(sx_auth_tokens *t)
{
    pthread_mutex_lock(&t->mu);
    uint64_t g = t->generation;
    pthread_mutex_unlock(&t->mu);
    return g;
}
