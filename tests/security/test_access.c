/* test_access.c — identity and access on a real `specx serve`: mutual TLS
 * (certificates made by openssl at test time), per-vehicle bearer tokens
 * with a SIGHUP reload, and per-identity quotas. One server for the whole
 * group, and a well-behaved client (vehicle-7) calling it all along: each
 * test makes one kind of peer that must be refused, checks the status and
 * the message, then checks that the well-behaved client kept succeeding
 * during the refusal and goes on succeeding after it. The last test reads
 * the refusals back from the server's /metrics (promtool must accept it)
 * and checks that no token ever appeared in the server's output.
 *
 * Usage: test_access SPECX_BINARY (SPECX_SOURCE_DIR in the environment). */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "specx/auth.h"
#include "specx/rpc.h"

#include "http_get.h"
#include "serve_proc.h"
#include "test_client.h"

/* Quotas of the server: the steady client (10 calls/s) stays well under. */
#define QUOTA_RPS "20"
#define QUOTA_BURST 5
#define QUOTA_BYTES 1000000

enum { T_GOOD, T_GREEDY, T_REVOKED, T_BIG, T_UNLISTED, T_COUNT };
static const char *const ids[T_COUNT] = {"vehicle-7", "vehicle-8", "vehicle-9", "vehicle-10",
                                         "vehicle-11"};

typedef struct world {
    const char *specx;
    char dir[64];
    specx_token tok[T_COUNT];
    serve_proc srv;
    specx_encoded_frame *frame;
    specx_rpc_client *good;
    tc_steady *steady;
} world;

static world W;

static void path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", W.dir, name);
}

/* The token file with the vehicles whose bit is set in mask (never
 * T_UNLISTED: its token exists but the server does not know it). */
static void write_tokens(unsigned mask)
{
    char tmp[128], final[128];
    path(tmp, sizeof tmp, "tokens.new");
    path(final, sizeof final, "tokens");
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fprintf(f, "# test fleet\n");
    for (int i = 0; i < T_COUNT; i++) {
        if ((mask & (1u << i)) != 0 && i != T_UNLISTED) {
            char line[160];
            assert_int_equal(specx_token_file_line(ids[i], &W.tok[i], line, sizeof line, NULL),
                             SPECX_OK);
            fputs(line, f);
        }
    }
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, final), 0); /* atomic, as docs/security.md says */
}

static void write_token_file(int i)
{
    char p[128], name[32];
    snprintf(name, sizeof name, "tok%d", i);
    path(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", W.tok[i].s);
    assert_int_equal(fclose(f), 0);
    chmod(p, 0600);
}

/* A client of the test server: "127.0.0.1:PORT" + opts, where {D} in opts
 * stands for the scratch directory. */
static specx_rpc_client *client(const char *opts)
{
    char spec[2048], expanded[1536] = "";
    size_t n = 0;
    for (const char *s = opts; *s != '\0' && n + 70 < sizeof expanded;) {
        if (strncmp(s, "{D}", 3) == 0) {
            n += (size_t)snprintf(expanded + n, sizeof expanded - n, "%s", W.dir);
            s += 3;
        } else {
            expanded[n++] = *s++;
            expanded[n] = '\0';
        }
    }
    snprintf(spec, sizeof spec, "127.0.0.1:%d%s", W.srv.port, expanded);
    specx_rpc_client_config cfg;
    specx_err err = {{0}};
    specx_status st = specx_rpc_client_config_parse(spec, &cfg, &err);
    if (st != SPECX_OK) {
        print_error("%s\n", err.msg);
        fail();
    }
    specx_rpc_client *c = NULL;
    st = specx_rpc_client_create(&cfg, &c, &err);
    if (st != SPECX_OK) {
        print_error("%s\n", err.msg);
        fail();
    }
    return c;
}

#define MTLS ",tls-ca={D}/ca.pem,tls-cert={D}/client.pem,tls-key={D}/client.key"

/* ---- the well-behaved client ------------------------------------------------- */

/* It kept succeeding while the last refusal happened, and goes on: no
 * failure at all so far, and 3 more successes from `before`. */
static void steady_still_served(int before)
{
    if (!tc_steady_wait_ok(W.steady, before + 3, 30)) {
        print_error("the well-behaved client stopped being served\n");
        fail();
    }
    int ok, failed;
    char first[512];
    tc_steady_counts(W.steady, &ok, &failed, first, sizeof first);
    if (failed != 0) {
        print_error("the well-behaved client failed %d times (first: %s)\n", failed, first);
        fail();
    }
    print_message("# well-behaved client: %d calls, all served\n", ok);
}

static int steady_ok(void)
{
    int ok, failed;
    tc_steady_counts(W.steady, &ok, &failed, NULL, 0);
    return ok;
}

/* One call from a new client with opts must fail with want and a message
 * containing needle; the steady client must be unaffected. */
static void expect_refused(const char *opts, specx_status want, const char *needle)
{
    int before = steady_ok();
    specx_rpc_client *c = client(opts);
    char msg[768];
    specx_status st = tc_call(c, W.frame, 10, msg, sizeof msg);
    specx_rpc_client_destroy(c);
    print_message("# refused: %s: %s\n", specx_status_name(st), msg);
    assert_int_equal(st, want);
    if (strstr(msg, needle) == NULL) {
        print_error("message '%s' lacks '%s'\n", msg, needle);
        fail();
    }
    for (int i = 0; i < T_COUNT; i++) {
        assert_null(strstr(msg, W.tok[i].s + 4)); /* never a token in a message */
    }
    steady_still_served(before);
}

/* ---- set-up ------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    const char *src = getenv("SPECX_SOURCE_DIR");
    assert_non_null(src);
    snprintf(W.dir, sizeof W.dir, "/tmp/specx-access-XXXXXX");
    assert_non_null(mkdtemp(W.dir));
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash '%s/tests/security/make_certs.sh' '%s' > '%s/certs.log' 2>&1",
             src, W.dir, W.dir);
    if (system(cmd) != 0) {
        print_error("make_certs.sh failed (see %s/certs.log)\n", W.dir);
        return -1;
    }
    for (int i = 0; i < T_COUNT; i++) {
        assert_int_equal(specx_token_generate(&W.tok[i], NULL), SPECX_OK);
        write_token_file(i);
    }
    write_tokens(~0u);
    char cert[128], key[128], ca[128], tokens[128];
    path(cert, sizeof cert, "server.pem");
    path(key, sizeof key, "server.key");
    path(ca, sizeof ca, "ca.pem");
    path(tokens, sizeof tokens, "tokens");
    char burst[16], bytes[16];
    snprintf(burst, sizeof burst, "%d", QUOTA_BURST);
    snprintf(bytes, sizeof bytes, "%d", QUOTA_BYTES);
    char *argv[] = {(char *)W.specx,
                    "serve",
                    "--model",
                    "test:delay_ms=2",
                    "--workers",
                    "2",
                    "--port",
                    "0",
                    "--bind",
                    "127.0.0.1",
                    "--grace",
                    "0",
                    "--tls-cert",
                    cert,
                    "--tls-key",
                    key,
                    "--tls-client-ca",
                    ca,
                    "--auth-tokens",
                    tokens,
                    "--quota-rps",
                    QUOTA_RPS,
                    "--quota-rps-burst",
                    burst,
                    "--quota-bytes-per-s",
                    bytes,
                    "--metrics",
                    "127.0.0.1:0",
                    NULL};
    char why[8192];
    if (serve_proc_start(&W.srv, argv, true, true, 60, why, sizeof why) != 0) {
        print_error("%s\n", why);
        return -1;
    }
    W.frame = tc_frame(64, 48);
    W.good = client(MTLS ",token-file={D}/tok0");
    W.steady = tc_steady_start(W.good, W.frame, 100);
    if (!tc_steady_wait_ok(W.steady, 3, 30)) {
        int ok, failed;
        char first[512];
        tc_steady_counts(W.steady, &ok, &failed, first, sizeof first);
        print_error("the well-behaved client is not served: %d ok, %d failed (%s)\n", ok, failed,
                    first);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (W.steady != NULL) {
        tc_steady_stop(W.steady);
    }
    specx_rpc_client_destroy(W.good);
    specx_encoded_frame_unref(W.frame);
    int rc = serve_proc_stop(&W.srv, SIGTERM, 30);
    if (rc != 0) {
        print_error("specx serve exited %d:\n%s\n", rc, serve_proc_log(&W.srv));
    }
    serve_proc_free(&W.srv);
    for (int i = 0; i < T_COUNT; i++) {
        specx_token_clear(&W.tok[i]);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", W.dir);
    if (system(cmd) != 0) {
        return -1;
    }
    return rc == 0 ? 0 : -1;
}

/* ---- certificates (refused at the handshake: UNAVAILABLE) ---------------------------- */

static void no_client_cert(void **state)
{
    (void)state;
    expect_refused(",tls-ca={D}/ca.pem,token-file={D}/tok0", SPECX_EUNAVAILABLE, "");
}

static void other_ca_cert(void **state)
{
    (void)state;
    expect_refused(",tls-ca={D}/ca.pem,tls-cert={D}/other-client.pem,tls-key={D}/"
                   "other-client.key,token-file={D}/tok0",
                   SPECX_EUNAVAILABLE, "");
}

static void expired_cert(void **state)
{
    (void)state;
    expect_refused(",tls-ca={D}/ca.pem,tls-cert={D}/expired-client.pem,tls-key={D}/"
                   "expired-client.key,token-file={D}/tok0",
                   SPECX_EUNAVAILABLE, "");
}

/* ---- tokens (UNAUTHENTICATED) ---------------------------------------------------------- */

static void missing_token(void **state)
{
    (void)state;
    expect_refused(MTLS, SPECX_EACCESS, "missing credentials");
    expect_refused(MTLS ",stream", SPECX_EACCESS, "missing credentials");
}

static void wrong_token(void **state)
{
    (void)state;
    char opts[160];
    snprintf(opts, sizeof opts, MTLS ",token-file={D}/tok%d", T_UNLISTED);
    expect_refused(opts, SPECX_EACCESS, "token not recognised");
}

static void raw_peer(void **state)
{
    (void)state;
    int before = steady_ok();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/security/raw_peer.py' %d '%s'",
             getenv("SPECX_SOURCE_DIR"), W.srv.port, W.dir);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    steady_still_served(before);
}

/* A token removed from the file is refused after SIGHUP, on the same
 * clients (their connections stay up): a unary client's next call, and an
 * open stream's next message. */
static void revoked_token(void **state)
{
    (void)state;
    char opts[160];
    snprintf(opts, sizeof opts, MTLS ",token-file={D}/tok%d", T_REVOKED);
    specx_rpc_client *c = client(opts);
    strcat(opts, ",stream");
    specx_rpc_client *s = client(opts);
    char msg[768];
    assert_int_equal(tc_call(c, W.frame, 10, msg, sizeof msg), SPECX_OK);
    assert_int_equal(tc_call(s, W.frame, 10, msg, sizeof msg), SPECX_OK);
    int before = steady_ok();
    write_tokens(~0u & ~(1u << T_REVOKED));
    kill(W.srv.pid, SIGHUP);
    char why[8192];
    if (serve_proc_wait_line(&W.srv, "auth tokens reloaded", 30, NULL, 0, why, sizeof why) != 0) {
        print_error("%s\n", why);
        fail();
    }
    specx_status st = tc_call(c, W.frame, 10, msg, sizeof msg);
    print_message("# after SIGHUP, unary: %s: %s\n", specx_status_name(st), msg);
    assert_int_equal(st, SPECX_EACCESS);
    assert_non_null(strstr(msg, "token not recognised"));
    st = tc_call(s, W.frame, 10, msg, sizeof msg);
    print_message("# after SIGHUP, stream: %s: %s\n", specx_status_name(st), msg);
    assert_int_equal(st, SPECX_EACCESS);
    assert_non_null(strstr(msg, "token not recognised"));
    /* the stream ends: a next call fails with its end, or, if the client
     * has seen the end already, on a new stream refused at its start */
    st = tc_call(s, W.frame, 10, msg, sizeof msg);
    assert_int_equal(st, SPECX_EACCESS);
    specx_rpc_client_destroy(c);
    specx_rpc_client_destroy(s);
    steady_still_served(before);
}

/* ---- quotas (RESOURCE_EXHAUSTED, naming the limit) ---------------------------------------- */

typedef struct burst {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok, refused, other;
    char refusal[512], other_msg[512];
} burst;

static void burst_done(void *user, specx_status st, specx_detections *res, const char *msg)
{
    burst *b = user;
    specx_detections_destroy(res);
    pthread_mutex_lock(&b->mu);
    if (st == SPECX_OK) {
        b->ok++;
    } else if (st == SPECX_EBUSY) {
        b->refused++;
        snprintf(b->refusal, sizeof b->refusal, "%s", msg);
    } else {
        b->other++;
        snprintf(b->other_msg, sizeof b->other_msg, "%s: %s", specx_status_name(st), msg);
    }
    b->done++;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static int greedy_refused; /* read back from the metrics at the end */

/* vehicle-8 sends 60 requests at once: its burst passes, and whatever
 * refilled while they arrived; the rest is refused as over its rate. */
static void over_request_quota(void **state)
{
    (void)state;
    int before = steady_ok();
    char opts[160];
    snprintf(opts, sizeof opts, MTLS ",token-file={D}/tok%d", T_GREEDY);
    specx_rpc_client *c = client(opts);
    static burst b;
    b = (burst){.done = 0};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    enum { N = 60 };
    specx_time_t t0 = specx_time_now();
    specx_time_t deadline = specx_time_add(t0, SPECX_SEC(20));
    for (int i = 0; i < N; i++) {
        assert_int_equal(specx_rpc_call_start(c, W.frame, deadline, burst_done, &b, NULL),
                         SPECX_OK);
    }
    pthread_mutex_lock(&b.mu);
    while (b.done < N) {
        pthread_cond_wait(&b.cv, &b.mu); /* every call has a deadline */
    }
    pthread_mutex_unlock(&b.mu);
    double elapsed = specx_dur_ms(specx_time_now() - t0) / 1e3;
    specx_rpc_client_destroy(c);
    print_message("# vehicle-8: %d ok, %d refused (%s), %d other (%s) in %.2f s\n", b.ok, b.refused,
                  b.refusal, b.other, b.other_msg, elapsed);
    assert_int_equal(b.other, 0);
    assert_true(b.ok >= 1);
    assert_true(b.refused >= 1);
    /* at most the burst plus what refilled meanwhile (20/s) */
    assert_true(b.ok <= QUOTA_BURST + 20 * elapsed + 1);
    assert_non_null(strstr(b.refusal, "requests/s"));
    assert_non_null(strstr(b.refusal, "vehicle-8"));
    greedy_refused = b.refused;
    pthread_mutex_destroy(&b.mu);
    pthread_cond_destroy(&b.cv);
    steady_still_served(before);
}

/* A request larger than the byte burst can never pass. */
static void over_byte_quota(void **state)
{
    (void)state;
    uint8_t *big = calloc(1, QUOTA_BYTES + 1000);
    assert_non_null(big);
    specx_encoded_frame *f = NULL;
    assert_int_equal(specx_encoded_frame_take(big, QUOTA_BYTES + 1000, &f), SPECX_OK);
    int before = steady_ok();
    char opts[160];
    snprintf(opts, sizeof opts, MTLS ",token-file={D}/tok%d", T_BIG);
    specx_rpc_client *c = client(opts);
    char msg[768];
    specx_status st = tc_call(c, f, 10, msg, sizeof msg);
    specx_rpc_client_destroy(c);
    specx_encoded_frame_unref(f);
    print_message("# vehicle-10: %s: %s\n", specx_status_name(st), msg);
    assert_int_equal(st, SPECX_EBUSY);
    assert_non_null(strstr(msg, "bytes"));
    steady_still_served(before);
}

/* ---- what the server says about it all ------------------------------------------------------ */

static double sample(const char *text, const char *series)
{
    double v = -1;
    if (!prom_sample(text, series, &v)) {
        print_error("no sample %s in:\n%s\n", series, text);
        fail();
    }
    return v;
}

static void metrics_and_logs(void **state)
{
    (void)state;
    http_reply r = {0};
    char why[256];
    assert_int_equal(
        http_request("127.0.0.1", W.srv.metrics_port, "GET", "/metrics", "", &r, why, sizeof why),
        0);
    assert_int_equal(r.status, 200);
    const char *t = r.body;
    /* missing: missing_token (unary, stream) and raw_peer's first case */
    assert_int_equal(sample(t, "specx_server_auth_failures_total{reason=\"missing\"}"), 3);
    /* invalid: wrong, raw_peer's two malformed credentials, revoked (unary,
     * the stream's message, and maybe a new stream: see revoked_token) */
    double invalid = sample(t, "specx_server_auth_failures_total{reason=\"invalid\"}");
    assert_true(invalid == 5 || invalid == 6);
    assert_int_equal(sample(t, "specx_server_auth_reloads_total{result=\"ok\"}"), 1);
    assert_int_equal(sample(t, "specx_server_auth_tokens"), T_COUNT - 2);
    assert_int_equal(sample(t,
                            "specx_server_quota_refused_total{limit=\"requests\",client=\"vehicle-"
                            "8\"}"),
                     greedy_refused);
    assert_int_equal(
        sample(t, "specx_server_quota_refused_total{limit=\"bytes\",client=\"vehicle-10\"}"), 1);
    assert_true(sample(t, "specx_server_client_requests_total{client=\"vehicle-7\",code=\"OK\"}") >=
                steady_ok());
    assert_int_equal(sample(t, "specx_server_client_requests_total{client=\"vehicle-8\",code="
                               "\"RESOURCE_EXHAUSTED\"}"),
                     greedy_refused);
    /* the exposition is valid */
    char file[128];
    path(file, sizeof file, "scrape.txt");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs(t, f);
    fclose(f);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s'", file);
    assert_int_equal(system(cmd), 0);
    char undocumented[640];
    if (prom_families_documented(t, undocumented, sizeof undocumented) < 0) {
        print_error("%s\n", undocumented);
        fail();
    }
    http_reply_clear(&r);
    /* no token ever reached the server's output */
    const char *log = serve_proc_log(&W.srv);
    for (int i = 0; i < T_COUNT; i++) {
        assert_null(strstr(log, W.tok[i].s + 4));
    }
    int ok, failed;
    tc_steady_counts(W.steady, &ok, &failed, NULL, 0);
    print_message("# well-behaved client over the whole group: %d served, %d failed\n", ok, failed);
    assert_int_equal(failed, 0);
}

/* The client side of the options: a token is never taken from the command
 * line, certificate and key go together, one token source, no token over
 * plaintext to another machine, and a missing token source is named. */
static void client_config(void **state)
{
    (void)state;
    specx_rpc_client_config cfg;
    specx_err err = {{0}};
    assert_int_equal(specx_rpc_client_config_parse("127.0.0.1:1,token=sxt_secretvalue", &cfg, &err),
                     SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "token-file"));
    assert_null(strstr(err.msg, "secretvalue"));
    assert_int_equal(specx_rpc_client_config_parse("h:1,tls-cert=/c.pem", &cfg, &err),
                     SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "tls-key"));
    assert_int_equal(specx_rpc_client_config_parse("h:1,token-file=/t,token-env=T", &cfg, &err),
                     SPECX_EINVAL);
    assert_int_equal(
        specx_rpc_client_config_parse(
            "h:1,tls-ca=/a.pem,tls-cert=/c.pem,tls-key=/k.pem,token-env=T", &cfg, &err),
        SPECX_OK);
    assert_string_equal(cfg.tls_cert, "/c.pem");
    assert_string_equal(cfg.tls_key, "/k.pem");
    assert_string_equal(cfg.token_env, "T");
    specx_rpc_client *c = NULL;
    assert_int_equal(specx_rpc_client_config_parse("192.0.2.1:1,token-env=HOME", &cfg, &err),
                     SPECX_OK);
    assert_int_equal(specx_rpc_client_create(&cfg, &c, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "plaintext"));
    assert_int_equal(
        specx_rpc_client_config_parse("127.0.0.1:1,token-env=SPECX_NO_SUCH_VAR", &cfg, &err),
        SPECX_OK);
    assert_int_equal(specx_rpc_client_create(&cfg, &c, &err), SPECX_ENOTFOUND);
    assert_non_null(strstr(err.msg, "SPECX_NO_SUCH_VAR"));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_access SPECX_BINARY\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    W.specx = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(client_config),      cmocka_unit_test(no_client_cert),
        cmocka_unit_test(other_ca_cert),      cmocka_unit_test(expired_cert),
        cmocka_unit_test(missing_token),      cmocka_unit_test(wrong_token),
        cmocka_unit_test(raw_peer),           cmocka_unit_test(revoked_token),
        cmocka_unit_test(over_request_quota), cmocka_unit_test(over_byte_quota),
        cmocka_unit_test(metrics_and_logs),
    };
    return cmocka_run_group_tests_name("security.access", tests, group_setup, group_teardown);
}
