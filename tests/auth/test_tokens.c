/* test_tokens.c — bearer tokens: constant-time comparison, SHA-256,
 * "Bearer" header parsing, generation and hashing, reading from a file or
 * the environment (trimming, refusals that never echo the token), token file
 * parsing with line numbers, lookup, and reload (a failed one keeps the old
 * table; lookups racing reloads never see a wrong or missing identity). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "specx/auth.h"

#include "auth/tokens.h"

static char g_dir[] = "/tmp/specx-auth-XXXXXX";

static const char *path_in_dir(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static void write_file(const char *path, const char *text)
{
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0); /* replaced atomically, as docs/security.md asks */
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_true(sx_auth_ct_equal("abc", 3, "abc", 3));
    assert_true(sx_auth_ct_equal("", 0, "", 0));
    assert_false(sx_auth_ct_equal("abc", 3, "abd", 3));
    assert_false(sx_auth_ct_equal("abc", 3, "xbc", 3));
    assert_false(sx_auth_ct_equal("abc", 3, "abcd", 4)); /* a prefix is not equal */
    assert_false(sx_auth_ct_equal("abcd", 4, "abc", 3));
    assert_false(sx_auth_ct_equal("", 0, "a", 1));
    assert_false(sx_auth_ct_equal("a\0", 2, "a", 1)); /* lengths count, not NULs */
    uint8_t a[32], b[32];
    for (int i = 0; i < 32; i++) {
        a[i] = b[i] = (uint8_t)(i * 7);
    }
    assert_true(sx_auth_ct_equal(a, 32, b, 32));
    for (int i = 0; i < 32; i++) {
        b[i] ^= 0x80;
        assert_false(sx_auth_ct_equal(a, 32, b, 32));
        b[i] ^= 0x80;
    }
}

static void test_sha256_and_hash_format(void **state)
{
    (void)state;
    uint8_t d[32];
    sx_auth_sha256("abc", 3, d);
    static const uint8_t want[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                     0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                     0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                     0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    assert_memory_equal(d, want, 32);
    specx_token t = {.s = "abc", .len = 3};
    char h[SPECX_TOKEN_HASH_STRLEN + 1];
    specx_token_hash(&t, h);
    assert_string_equal(h,
                        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_bearer(void **state)
{
    (void)state;
    const char *tok;
    size_t n;
    const char v1[] = "Bearer sxt_abc";
    assert_true(sx_auth_bearer(v1, strlen(v1), &tok, &n));
    assert_int_equal(n, 7);
    assert_memory_equal(tok, "sxt_abc", 7);
    const char v2[] = "  bearer \t sxt_x=  ";
    assert_true(sx_auth_bearer(v2, strlen(v2), &tok, &n));
    assert_int_equal(n, 6);
    assert_memory_equal(tok, "sxt_x=", 6);
    /* not NUL-terminated: only len bytes count */
    const char v3[] = "Bearer abcXYZ";
    assert_true(sx_auth_bearer(v3, 10, &tok, &n));
    assert_int_equal(n, 3);
    static const char *const bad[] = {"Basic dXNlcjpw", "Bearer", "Bearer ",  "Bearerx abc",
                                      "Bearer a b",     "",       "Token abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(sx_auth_bearer(bad[i], strlen(bad[i]), &tok, &n));
    }
}

static void test_generate(void **state)
{
    (void)state;
    specx_token a, b;
    assert_int_equal(specx_token_generate(&a, NULL), SPECX_OK);
    assert_int_equal(specx_token_generate(&b, NULL), SPECX_OK);
    assert_int_equal(a.len, 4 + 43);
    assert_int_equal(strlen(a.s), a.len);
    assert_memory_equal(a.s, "sxt_", 4);
    assert_int_equal(
        strspn(a.s + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    assert_string_not_equal(a.s, b.s);
    char line[200];
    assert_int_equal(specx_token_file_line("vehicle-7", &a, line, sizeof line, NULL), SPECX_OK);
    char h[SPECX_TOKEN_HASH_STRLEN + 1];
    specx_token_hash(&a, h);
    char want[200];
    snprintf(want, sizeof want, "vehicle-7 %s\n", h);
    assert_string_equal(line, want);
    assert_null(strstr(line, a.s)); /* the line holds the hash, not the token */
    specx_err err = {{0}};
    assert_int_equal(specx_token_file_line("bad id", &a, line, sizeof line, &err), SPECX_EINVAL);
    assert_int_equal(specx_token_file_line("v", &a, line, 20, &err), SPECX_ETOOBIG);
    /* the generated token is accepted by a table holding its line */
    const char *p = path_in_dir("gen.tokens");
    snprintf(want, sizeof want, "# made by the test\nv7 %s\n", h);
    write_file(p, want);
    sx_auth_tokens *t;
    assert_int_equal(sx_auth_tokens_open(p, &t, NULL), SPECX_OK);
    char id[SPECX_AUTH_ID_MAX + 1];
    assert_true(sx_auth_tokens_lookup(t, a.s, a.len, id));
    assert_string_equal(id, "v7");
    assert_false(sx_auth_tokens_lookup(t, b.s, b.len, id));
    assert_false(sx_auth_tokens_lookup(t, a.s, a.len - 1, id));
    sx_auth_tokens_close(t);
    specx_token_clear(&a);
    assert_int_equal(a.len, 0);
    assert_int_equal(a.s[0], 0);
}

static void test_read_file_and_env(void **state)
{
    (void)state;
    specx_token t;
    specx_err err = {{0}};
    const char *p = path_in_dir("client.token");
    write_file(p, "  sxt_Secret-Value_1==\n\n");
    assert_int_equal(specx_token_read_file(p, &t, &err), SPECX_OK);
    assert_string_equal(t.s, "sxt_Secret-Value_1==");
    assert_int_equal(t.len, 20);

    static const struct {
        const char *text;
        specx_status st;
    } bad[] = {
        {"sxt_Secret one\n", SPECX_EFORMAT},
        {"   \n", SPECX_EFORMAT},
        {"", SPECX_EFORMAT},
        {"sxt_Secret\"x", SPECX_EFORMAT},
        {"sxt_Sec=ret", SPECX_EFORMAT},
        {"sxt_Secret\nsecond\n", SPECX_EFORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(p, bad[i].text);
        memset(&err, 0, sizeof err);
        assert_int_equal(specx_token_read_file(p, &t, &err), bad[i].st);
        assert_int_equal(t.len, 0);
        assert_null(strstr(err.msg, "Secret")); /* never echoes the token */
        assert_non_null(strstr(err.msg, p));
    }
    char big[SPECX_TOKEN_MAX + 200];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    write_file(p, big);
    assert_int_equal(specx_token_read_file(p, &t, &err), SPECX_ETOOBIG);
    assert_null(strstr(err.msg, "AAAA"));
    assert_int_equal(specx_token_read_file(path_in_dir("absent"), &t, &err), SPECX_ENOTFOUND);

    setenv("SPECX_TEST_TOKEN", "\tsxt_EnvSecret \n", 1);
    assert_int_equal(specx_token_read_env("SPECX_TEST_TOKEN", &t, &err), SPECX_OK);
    assert_string_equal(t.s, "sxt_EnvSecret");
    setenv("SPECX_TEST_TOKEN", "sxt_Env Secret", 1);
    assert_int_equal(specx_token_read_env("SPECX_TEST_TOKEN", &t, &err), SPECX_EFORMAT);
    assert_null(strstr(err.msg, "Secret"));
    assert_non_null(strstr(err.msg, "SPECX_TEST_TOKEN"));
    unsetenv("SPECX_TEST_TOKEN");
    assert_int_equal(specx_token_read_env("SPECX_TEST_TOKEN", &t, &err), SPECX_ENOTFOUND);
    assert_non_null(strstr(err.msg, "not set"));
}

static const char *hash_of(const char *token)
{
    static char h[4][SPECX_TOKEN_HASH_STRLEN + 1];
    static int k;
    k = (k + 1) % 4;
    specx_token t = {.len = strlen(token)};
    memcpy(t.s, token, t.len + 1);
    specx_token_hash(&t, h[k]);
    return h[k];
}

static void expect_bad_file(const char *text, const char *want)
{
    const char *p = path_in_dir("bad.tokens");
    write_file(p, text);
    sx_auth_tokens *t = NULL;
    specx_err err = {{0}};
    specx_status st = sx_auth_tokens_open(p, &t, &err);
    if (st != SPECX_EFORMAT || strstr(err.msg, want) == NULL || strstr(err.msg, p) == NULL) {
        print_error("file:\n%s\nstatus %d, message '%s', want '%s'\n", text, st, err.msg, want);
        fail();
    }
    size_t run = 0; /* no hash in messages: no long run of hex digits */
    for (const char *c = err.msg; *c != '\0'; c++) {
        run = strchr("0123456789abcdefABCDEF", *c) != NULL ? run + 1 : 0;
        assert_true(run < 16);
    }
}

static void test_token_file_errors(void **state)
{
    (void)state;
    char text[1024];
    const char *ha = hash_of("tok-a");
    snprintf(text, sizeof text, "# fleet\n\nv1 %s\nv2\n", ha);
    expect_bad_file(text, ":4: want two fields");
    snprintf(text, sizeof text, "v1 %s extra\n", ha);
    expect_bad_file(text, ":1: want two fields");
    expect_bad_file("v1 tok-a\n", ":1: second field must be sha256:");
    snprintf(text, sizeof text, "v1 %.*s\n", 70, ha); /* one hex digit short */
    expect_bad_file(text, ":1: second field");
    snprintf(text, sizeof text, "v1 %.*sg\n", 70, ha);
    expect_bad_file(text, ":1: second field");
    snprintf(text, sizeof text, "\n\nv/1 %s\n", ha);
    expect_bad_file(text, ":3: vehicle id 'v/1'");
    snprintf(text, sizeof text, "v1 %s\n#\nv2 %s   # same token twice\n", ha, ha);
    expect_bad_file(text, ":3: the same hash as line 1");
    sx_auth_tokens *t = NULL;
    specx_err err = {{0}};
    assert_int_equal(sx_auth_tokens_open(path_in_dir("nope"), &t, &err), SPECX_ENOTFOUND);
    /* upper-case hex, comments after the fields, two tokens for one vehicle */
    char up[SPECX_TOKEN_HASH_STRLEN + 1];
    strcpy(up, hash_of("tok-b"));
    for (char *c = up + 7; *c != '\0'; c++) {
        *c = (char)(*c >= 'a' && *c <= 'f' ? *c - 'a' + 'A' : *c);
    }
    snprintf(text, sizeof text, "v1 %s # old\n\tv1\t%s\n", ha, up);
    const char *p = path_in_dir("ok.tokens");
    write_file(p, text);
    assert_int_equal(sx_auth_tokens_open(p, &t, &err), SPECX_OK);
    assert_int_equal(sx_auth_tokens_count(t), 2);
    char id[SPECX_AUTH_ID_MAX + 1];
    assert_true(sx_auth_tokens_lookup(t, "tok-a", 5, id));
    assert_string_equal(id, "v1");
    assert_true(sx_auth_tokens_lookup(t, "tok-b", 5, id));
    assert_string_equal(id, "v1");
    sx_auth_tokens_close(t);
}

static void test_reload_keeps_old_on_failure(void **state)
{
    (void)state;
    const char *p = path_in_dir("reload.tokens");
    char text[512];
    snprintf(text, sizeof text, "a %s\nb %s\n", hash_of("tok-a"), hash_of("tok-b"));
    write_file(p, text);
    sx_auth_tokens *t;
    assert_int_equal(sx_auth_tokens_open(p, &t, NULL), SPECX_OK);
    assert_int_equal(sx_auth_tokens_generation(t), 1);
    char id[SPECX_AUTH_ID_MAX + 1];
    /* revoke b */
    snprintf(text, sizeof text, "a %s\n", hash_of("tok-a"));
    write_file(p, text);
    assert_int_equal(sx_auth_tokens_reload(t, NULL), SPECX_OK);
    assert_int_equal(sx_auth_tokens_generation(t), 2);
    assert_true(sx_auth_tokens_lookup(t, "tok-a", 5, id));
    assert_false(sx_auth_tokens_lookup(t, "tok-b", 5, id));
    /* a broken file: refused, the table in use stays */
    snprintf(text, sizeof text, "a %s\nc tok-c\n", hash_of("tok-a"));
    write_file(p, text);
    specx_err err = {{0}};
    assert_int_equal(sx_auth_tokens_reload(t, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, ":2:"));
    assert_int_equal(sx_auth_tokens_generation(t), 2);
    assert_true(sx_auth_tokens_lookup(t, "tok-a", 5, id));
    assert_int_equal(sx_auth_tokens_count(t), 1);
    unlink(p);
    assert_int_equal(sx_auth_tokens_reload(t, &err), SPECX_ENOTFOUND);
    assert_true(sx_auth_tokens_lookup(t, "tok-a", 5, id));
    sx_auth_tokens_close(t);
}

typedef struct race {
    sx_auth_tokens *t;
    atomic_bool stop;
    atomic_long lookups, wrong, found_a, missing_a;
} race;

static void *reader(void *arg)
{
    race *r = arg;
    char id[SPECX_AUTH_ID_MAX + 1];
    long n = 0;
    while (!atomic_load(&r->stop) || n < 2000) {
        /* tok-c is in every version of the file: it must always resolve */
        if (!sx_auth_tokens_lookup(r->t, "tok-c", 5, id) || strcmp(id, "c") != 0) {
            atomic_fetch_add(&r->wrong, 1);
        }
        if (sx_auth_tokens_lookup(r->t, "tok-a", 5, id)) {
            atomic_fetch_add(&r->found_a, 1);
            if (strcmp(id, "a") != 0) {
                atomic_fetch_add(&r->wrong, 1);
            }
        } else {
            atomic_fetch_add(&r->missing_a, 1);
        }
        if (sx_auth_tokens_lookup(r->t, "tok-b", 5, id) && strcmp(id, "b") != 0) {
            atomic_fetch_add(&r->wrong, 1);
        }
        n++;
    }
    atomic_fetch_add(&r->lookups, 3 * n);
    return NULL;
}

static void test_reload_under_lookups(void **state)
{
    (void)state;
    const char *p = path_in_dir("race.tokens");
    char va[1024], vb[1024], broken[1024];
    snprintf(va, sizeof va, "a %s\nc %s\n", hash_of("tok-a"), hash_of("tok-c"));
    snprintf(vb, sizeof vb, "b %s\nc %s\n", hash_of("tok-b"), hash_of("tok-c"));
    snprintf(broken, sizeof broken, "c %s\nb\n", hash_of("tok-c"));
    write_file(p, va);
    race r = {0};
    assert_int_equal(sx_auth_tokens_open(p, &r.t, NULL), SPECX_OK);
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, reader, &r), 0);
    }
    int ok = 0;
    for (int i = 0; i < 300; i++) {
        write_file(p, i % 3 == 0 ? va : i % 3 == 1 ? vb : broken);
        ok += sx_auth_tokens_reload(r.t, NULL) == SPECX_OK;
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(ok, 200);
    assert_int_equal(sx_auth_tokens_generation(r.t), 201);
    assert_int_equal(atomic_load(&r.wrong), 0);
    assert_true(atomic_load(&r.lookups) >= 3 * 3 * 2000);
    print_message("# %ld lookups during 300 reloads; tok-a found %ld, missing %ld\n",
                  atomic_load(&r.lookups), atomic_load(&r.found_a), atomic_load(&r.missing_a));
    sx_auth_tokens_close(r.t);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(g_dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_sha256_and_hash_format),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_read_file_and_env),
        cmocka_unit_test(test_token_file_errors),
        cmocka_unit_test(test_reload_keeps_old_on_failure),
        cmocka_unit_test(test_reload_under_lookups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
