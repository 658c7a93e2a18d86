/* prom_harness.c — a real Prometheus for tests; see prom_harness.h.
 *
 * Design notes
 *  - The web port is found by binding 127.0.0.1:0 and closing; another
 *    process could take it before Prometheus binds, so a start whose
 *    Prometheus exits before it is ready is retried on a fresh port.
 *  - The child dies with the test (PR_SET_PDEATHSIG), so a crashed test does
 *    not leave a Prometheus behind; its output goes to prometheus.log in the
 *    data directory, whose tail is reported on failure.
 *  - Stopping waits on a pidfd with poll (bounded), then SIGKILLs. */
#include "prom_harness.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http_get.h"
#include "test_timeout.h"

bool prom_available(void)
{
    return system("command -v prometheus > /dev/null 2>&1") == 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

static void log_tail(const prom_harness *p, char *why, size_t cap)
{
    char path[300], tail[600] = "";
    snprintf(path, sizeof path, "%s/prometheus.log", p->dir);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, sz > (long)sizeof tail - 1 ? sz - (long)sizeof tail + 1 : 0, SEEK_SET);
        size_t n = fread(tail, 1, sizeof tail - 1, f);
        tail[n] = '\0';
        fclose(f);
    }
    size_t used = strlen(why);
    snprintf(why + used, cap - used, "; prometheus log tail: %s", tail);
}

static int write_config(const prom_harness *p, const char *job, const char *const *targets,
                        size_t n, int interval_ms)
{
    char path[300];
    snprintf(path, sizeof path, "%s/prometheus.yml", p->dir);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    fprintf(f,
            "global:\n  scrape_interval: %dms\n  evaluation_interval: %dms\n"
            "scrape_configs:\n  - job_name: '%s'\n    scrape_interval: %dms\n"
            "    scrape_timeout: %dms\n    metrics_path: /metrics\n"
            "    static_configs:\n      - targets: [",
            interval_ms, interval_ms, job, interval_ms, interval_ms * 4 / 5);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s'%s'", i > 0 ? ", " : "", targets[i]);
    }
    fprintf(f, "]\n");
    return fclose(f) == 0 ? 0 : -1;
}

static pid_t spawn(const prom_harness *p)
{
    char cfg[300], data[300], listen[64], logp[300];
    snprintf(cfg, sizeof cfg, "--config.file=%s/prometheus.yml", p->dir);
    snprintf(data, sizeof data, "--storage.tsdb.path=%s/data", p->dir);
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", p->port);
    snprintf(logp, sizeof logp, "%s/prometheus.log", p->dir);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("prometheus", "prometheus", cfg, data, listen, "--log.level=info", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* 0 once /-/ready answers 200; -1 when the child exited or time ran out. */
static int wait_ready(prom_harness *p, double timeout_s, char *why, size_t cap)
{
    double deadline = now_s() + timeout_s * specx_test_timeout_scale();
    while (now_s() < deadline) {
        int status;
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = 0;
            snprintf(why, cap, "prometheus exited (status %d) before it was ready", status);
            return -1;
        }
        http_reply r;
        char e[128];
        if (http_request("127.0.0.1", p->port, "GET", "/-/ready", "", &r, e, sizeof e) == 0) {
            int ok = r.status == 200;
            http_reply_clear(&r);
            if (ok) {
                return 0;
            }
        }
        pause_ms(100);
    }
    snprintf(why, cap, "prometheus not ready on port %d after %.0f s", p->port, timeout_s);
    return -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int prom_start(prom_harness *p, const char *job, const char *const *targets, size_t ntargets,
               int interval_ms, char *why, size_t cap)
{
    memset(p, 0, sizeof *p);
    const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    snprintf(p->dir, sizeof p->dir, "%s/specx-prom-XXXXXX", tmp);
    if (mkdtemp(p->dir) == NULL) {
        snprintf(why, cap, "mkdtemp %s: %s", p->dir, strerror(errno));
        p->dir[0] = '\0';
        return -1;
    }
    if (write_config(p, job, targets, ntargets, interval_ms) != 0) {
        snprintf(why, cap, "cannot write the config in %s", p->dir);
        prom_stop(p);
        return -1;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        p->port = free_port();
        p->pid = spawn(p);
        if (p->pid < 0) {
            snprintf(why, cap, "fork: %s", strerror(errno));
            p->pid = 0;
            break;
        }
        if (wait_ready(p, 60, why, cap) == 0) {
            return 0;
        }
        if (p->pid != 0) {
            break; /* alive but never ready: a retry would not help */
        }
    }
    log_tail(p, why, cap);
    prom_stop(p);
    return -1;
}

static void url_encode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s != '\0' && n + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
}

static int parse_result(const char *body, double *v, char *why, size_t cap)
{
    cJSON *j = cJSON_Parse(body);
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(j, "status");
    if (j == NULL || !cJSON_IsString(status) || strcmp(status->valuestring, "success") != 0) {
        snprintf(why, cap, "query failed: %.300s", body);
        cJSON_Delete(j);
        return -1;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(data, "result");
    const cJSON *first = cJSON_IsArray(result) ? cJSON_GetArrayItem(result, 0) : NULL;
    const cJSON *value = first != NULL ? cJSON_GetObjectItemCaseSensitive(first, "value") : NULL;
    const cJSON *num = value != NULL ? cJSON_GetArrayItem(value, 1) : NULL;
    int rc = 0;
    if (first == NULL) {
        snprintf(why, cap, "empty result");
    } else if (num == NULL || !cJSON_IsString(num)) {
        snprintf(why, cap, "unexpected result: %.300s", body);
        rc = -1;
    } else {
        *v = strtod(num->valuestring, NULL);
        rc = 1;
    }
    cJSON_Delete(j);
    return rc;
}

int prom_query(prom_harness *p, const char *promql, double *v, char *why, size_t cap)
{
    char q[1024], path[1100];
    url_encode(promql, q, sizeof q);
    snprintf(path, sizeof path, "/api/v1/query?query=%s", q);
    http_reply r;
    if (http_request("127.0.0.1", p->port, "GET", path, "", &r, why, cap) != 0) {
        return -1;
    }
    int rc = parse_result(r.body, v, why, cap);
    http_reply_clear(&r);
    return rc;
}

int prom_wait_value(prom_harness *p, const char *promql, double want, double timeout_s, char *why,
                    size_t cap)
{
    double deadline = now_s() + timeout_s * specx_test_timeout_scale();
    char last[300] = "no answer";
    while (now_s() < deadline) {
        double v = 0;
        int rc = prom_query(p, promql, &v, last, sizeof last);
        if (rc == 1 && v == want) {
            return 0;
        }
        if (rc == 1) {
            snprintf(last, sizeof last, "value %g", v);
        }
        pause_ms(100);
    }
    snprintf(why, cap, "'%s' did not reach %g in %.0f s (last: %s)", promql, want, timeout_s, last);
    return -1;
}

void prom_stop(prom_harness *p)
{
    if (p->pid > 0) {
        int pfd = pidfd_open(p->pid, 0);
        kill(p->pid, SIGTERM);
        struct pollfd pf = {.fd = pfd, .events = POLLIN};
        if (pfd < 0 || poll(&pf, 1, (int)(20000 * specx_test_timeout_scale())) <= 0) {
            kill(p->pid, SIGKILL);
        }
        if (pfd >= 0) {
            close(pfd);
        }
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
    if (p->dir[0] != '\0') {
        nftw(p->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        p->dir[0] = '\0';
    }
}
