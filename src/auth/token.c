/* token.c — bearer tokens: generation, hashing, reading on the client side,
 * the constant-time comparison and the "Bearer" header parse.
 *
 * Design notes
 *  - SHA-256 comes from OpenSSL's libcrypto. The algorithm is fetched once
 *    (an implicit fetch per call costs a lookup under a lock in OpenSSL 3),
 *    and each thread keeps one digest context, so hashing a token allocates
 *    nothing after a thread's first call.
 *  - Buffers that held a token are wiped with explicit_bzero. */
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "auth/tokens.h"

/* ---- SHA-256 -------------------------------------------------------------- */

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256;
static pthread_key_t ctx_key;

static void free_ctx(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void md_init(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    pthread_key_create(&ctx_key, free_ctx);
}

void sx_auth_sha256(const void *data, size_t len, uint8_t out[SX_AUTH_DIGEST_LEN])
{
    pthread_once(&md_once, md_init);
    EVP_MD_CTX *ctx = pthread_getspecific(ctx_key);
    if (ctx == NULL && (ctx = EVP_MD_CTX_new()) != NULL) {
        pthread_setspecific(ctx_key, ctx);
    }
    unsigned int n = 0;
    if (md_sha256 == NULL || ctx == NULL || EVP_DigestInit_ex2(ctx, md_sha256, NULL) != 1 ||
        EVP_DigestUpdate(ctx, data, len) != 1 || EVP_DigestFinal_ex(ctx, out, &n) != 1 ||
        n != SX_AUTH_DIGEST_LEN) {
        /* libcrypto failed (no SHA-256 provider, no memory): fall back to the
         * one-shot call; if that fails too, a digest no table holds */
        if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1) {
            memset(out, 0xff, SX_AUTH_DIGEST_LEN);
        }
    }
}

/* ---- constant time -------------------------------------------------------- */

bool sx_auth_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    const volatile unsigned char *x = a;
    const volatile unsigned char *y = b;
    size_t n = alen > blen ? alen : blen;
    unsigned char acc = alen != blen;
    for (size_t i = 0; i < n; i++) {
        /* the branches depend on the lengths only, never on the contents */
        unsigned char p = i < alen ? x[i] : 0;
        unsigned char q = i < blen ? y[i] : 0;
        acc |= (unsigned char)(p ^ q);
    }
    return acc == 0;
}

/* ---- header --------------------------------------------------------------- */

bool sx_auth_bearer(const char *value, size_t len, const char **token, size_t *token_len)
{
    size_t i = 0;
    while (i < len && (value[i] == ' ' || value[i] == '\t')) {
        i++;
    }
    if (len - i < 7 || strncasecmp(value + i, "bearer", 6) != 0 ||
        (value[i + 6] != ' ' && value[i + 6] != '\t')) {
        return false;
    }
    i += 6;
    while (i < len && (value[i] == ' ' || value[i] == '\t')) {
        i++;
    }
    size_t end = len;
    while (end > i && (value[end - 1] == ' ' || value[end - 1] == '\t')) {
        end--;
    }
    for (size_t k = i; k < end; k++) {
        if (value[k] == ' ' || value[k] == '\t') {
            return false;
        }
    }
    if (end == i) {
        return false;
    }
    *token = value + i;
    *token_len = end - i;
    return true;
}

/* ---- tokens --------------------------------------------------------------- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

specx_status specx_token_generate(specx_token *tok, specx_err *err)
{
    unsigned char raw[32];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno != EINTR) {
            explicit_bzero(raw, sizeof raw);
            return specx_err_set(err, SPECX_EIO, "token: the kernel's random source failed: %s",
                                 strerror(errno));
        }
        got += n > 0 ? (size_t)n : 0;
    }
    memset(tok, 0, sizeof *tok);
    size_t o = strlen(SPECX_TOKEN_PREFIX);
    memcpy(tok->s, SPECX_TOKEN_PREFIX, o);
    /* 256 bits as 43 base64url digits (6 bits each; the last holds 4) */
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < sizeof raw; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 6) {
            tok->s[o++] = b64url[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits > 0) {
        tok->s[o++] = b64url[(acc << (6 - bits)) & 63];
    }
    tok->len = o;
    explicit_bzero(raw, sizeof raw);
    explicit_bzero(&acc, sizeof acc);
    return SPECX_OK;
}

void specx_token_hash(const specx_token *tok, char *out)
{
    uint8_t d[SX_AUTH_DIGEST_LEN];
    sx_auth_sha256(tok->s, tok->len, d);
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < sizeof d; i++) {
        out[7 + 2 * i] = hex[d[i] >> 4];
        out[8 + 2 * i] = hex[d[i] & 15];
    }
    out[SPECX_TOKEN_HASH_STRLEN] = '\0';
}

specx_status specx_auth_id_check(const char *id, specx_err *err)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n > SPECX_AUTH_ID_MAX) {
        return specx_err_set(err, SPECX_EINVAL, "vehicle id must have 1 to %d characters",
                             SPECX_AUTH_ID_MAX);
    }
    size_t ok = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
    if (ok != n) {
        return specx_err_set(err, SPECX_EINVAL,
                             "vehicle id '%s': character %zu is not one of A-Z a-z 0-9 . _ -", id,
                             ok + 1);
    }
    return SPECX_OK;
}

specx_status specx_token_file_line(const char *id, const specx_token *tok, char *line, size_t cap,
                                   specx_err *err)
{
    specx_status st = specx_auth_id_check(id, err);
    if (st != SPECX_OK) {
        return st;
    }
    char hash[SPECX_TOKEN_HASH_STRLEN + 1];
    specx_token_hash(tok, hash);
    int n = snprintf(line, cap, "%s %s\n", id, hash);
    if (n < 0 || (size_t)n >= cap) {
        return specx_err_set(err, SPECX_ETOOBIG, "token file line needs %d bytes", n + 1);
    }
    return SPECX_OK;
}

void specx_token_clear(specx_token *tok)
{
    explicit_bzero(tok, sizeof *tok);
}

/* Trims and checks raw (len bytes) into tok; `where` names the source. */
static specx_status take(const char *raw, size_t len, const char *where, specx_token *tok,
                         specx_err *err)
{
    specx_token_clear(tok);
    size_t i = 0;
    while (i < len && strchr(" \t\r\n", raw[i]) != NULL && raw[i] != '\0') {
        i++;
    }
    while (len > i && strchr(" \t\r\n", raw[len - 1]) != NULL && raw[len - 1] != '\0') {
        len--;
    }
    size_t n = len - i;
    if (n == 0) {
        return specx_err_set(err, SPECX_EFORMAT, "token from %s is empty", where);
    }
    if (n > SPECX_TOKEN_MAX) {
        return specx_err_set(err, SPECX_ETOOBIG, "token from %s is longer than %d bytes", where,
                             SPECX_TOKEN_MAX);
    }
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/";
    size_t body = 0;
    while (body < n && raw[i + body] != '\0' && strchr(ok, raw[i + body]) != NULL) {
        body++;
    }
    size_t pad = body;
    while (pad < n && raw[i + pad] == '=') {
        pad++;
    }
    if (body == 0 || pad != n) {
        return specx_err_set(err, SPECX_EFORMAT,
                             "token from %s holds a character not allowed in a bearer token "
                             "(one token, no spaces inside)",
                             where);
    }
    memcpy(tok->s, raw + i, n);
    tok->s[n] = '\0';
    tok->len = n;
    return SPECX_OK;
}

specx_status specx_token_read_file(const char *path, specx_token *tok, specx_err *err)
{
    specx_token_clear(tok);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return specx_err_set(err, errno == ENOENT ? SPECX_ENOTFOUND : SPECX_EIO,
                             "cannot open token file '%s': %s", path, strerror(errno));
    }
    char buf[SPECX_TOKEN_MAX + 64];
    size_t n = fread(buf, 1, sizeof buf, f);
    int bad = ferror(f);
    int more = !bad && n == sizeof buf && fgetc(f) != EOF;
    fclose(f);
    specx_status st;
    char where[600];
    snprintf(where, sizeof where, "file '%s'", path);
    if (bad) {
        st = specx_err_set(err, SPECX_EIO, "cannot read token file '%s'", path);
    } else if (more) {
        st = specx_err_set(err, SPECX_ETOOBIG, "token file '%s' is larger than a token can be",
                           path);
    } else {
        st = take(buf, n, where, tok, err);
    }
    explicit_bzero(buf, sizeof buf);
    return st;
}

specx_status specx_token_read_env(const char *name, specx_token *tok, specx_err *err)
{
    specx_token_clear(tok);
    const char *v = name != NULL ? getenv(name) : NULL;
    if (v == NULL) {
        return specx_err_set(err, SPECX_ENOTFOUND, "environment variable '%s' is not set",
                             name != NULL ? name : "(null)");
    }
    char where[200];
    snprintf(where, sizeof where, "environment variable '%s'", name);
    return take(v, strlen(v), where, tok, err);
}
