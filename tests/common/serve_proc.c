/* serve_proc.c — a specx child process read line by line; see serve_proc.h.
 *
 * Design notes
 *  - One pipe carries the child's stdout and stderr; reading waits in poll()
 *    with the remaining time to the deadline, so a wait ends as soon as the
 *    line arrives (no sleeping).
 *  - PR_SET_PDEATHSIG: a crashed test leaves no server behind. */
#include "serve_proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_timeout.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void log_append(serve_proc *p, const char *s, size_t n)
{
    if (p->loglen + n + 1 > p->logcap) {
        size_t cap = (p->logcap > 0 ? p->logcap : 4096);
        while (cap < p->loglen + n + 1) {
            cap *= 2;
        }
        char *nl = realloc(p->log, cap);
        if (nl == NULL) {
            return;
        }
        p->log = nl;
        p->logcap = cap;
    }
    memcpy(p->log + p->loglen, s, n);
    p->loglen += n;
    p->log[p->loglen] = '\0';
}

/* Reads what is there, waiting at most wait_s. 1 data, 0 timeout, -1 EOF. */
static int fill(serve_proc *p, double wait_s)
{
    if (p->fd < 0) {
        return -1;
    }
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    int ms = wait_s > 0 ? (int)(wait_s * 1000) + 1 : 0;
    int r = poll(&pfd, 1, ms);
    if (r <= 0) {
        return r < 0 && errno != EINTR ? -1 : 0;
    }
    char buf[2048];
    ssize_t n = read(p->fd, buf, sizeof buf);
    if (n <= 0) {
        close(p->fd);
        p->fd = -1;
        return -1;
    }
    log_append(p, buf, (size_t)n);
    size_t room = sizeof p->pending - 1 - p->npending;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(p->pending + p->npending, buf, take);
    p->npending += take;
    p->pending[p->npending] = '\0';
    return 1;
}

/* Takes the first complete line out of pending into line; false if none. */
static bool take_line(serve_proc *p, char *line, size_t cap)
{
    char *nl = memchr(p->pending, '\n', p->npending);
    if (nl == NULL) {
        if (p->npending == sizeof p->pending - 1) {
            p->npending = 0; /* a line too long to keep: dropped (it is logged) */
        }
        return false;
    }
    size_t len = (size_t)(nl - p->pending);
    snprintf(line, cap, "%.*s", (int)len, p->pending);
    memmove(p->pending, nl + 1, p->npending - len - 1);
    p->npending -= len + 1;
    p->pending[p->npending] = '\0';
    return true;
}

int serve_proc_wait_line(serve_proc *p, const char *needle, double timeout_s, char *line,
                         size_t cap, char *why, size_t why_cap)
{
    double until = now_s() + timeout_s * specx_test_timeout_scale();
    char buf[1024];
    for (;;) {
        while (take_line(p, buf, sizeof buf)) {
            if (strstr(buf, needle) != NULL) {
                if (line != NULL) {
                    snprintf(line, cap, "%s", buf);
                }
                return 0;
            }
        }
        double left = until - now_s();
        int r = left > 0 ? fill(p, left) : 0;
        if (r == 0 && left <= 0) {
            snprintf(why, why_cap, "no line with '%s' within %.0f s; output so far:\n%s", needle,
                     timeout_s, p->log != NULL ? p->log : "");
            return -1;
        }
        if (r < 0) {
            snprintf(why, why_cap, "output ended before a line with '%s'; output:\n%s", needle,
                     p->log != NULL ? p->log : "");
            return -1;
        }
    }
}

const char *serve_proc_log(serve_proc *p)
{
    while (fill(p, 0) > 0) {
    }
    return p->log != NULL ? p->log : "";
}

static int port_after(const char *line, const char *mark)
{
    const char *s = strstr(line, mark);
    const char *colon = s != NULL ? strrchr(s, ':') : NULL;
    return colon != NULL ? atoi(colon + 1) : 0;
}

int serve_proc_start(serve_proc *p, char *const *argv, bool want_port, bool want_metrics,
                     double timeout_s, char *why, size_t cap)
{
    *p = (serve_proc){.fd = -1};
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(why, cap, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    p->pid = fork();
    if (p->pid < 0) {
        snprintf(why, cap, "fork: %s", strerror(errno));
        return -1;
    }
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    p->fd = fds[0];
    char line[1024];
    if (want_port) {
        if (serve_proc_wait_line(p, "listening on ", timeout_s, line, sizeof line, why, cap) != 0) {
            return -1;
        }
        p->port = port_after(line, "listening on ");
    }
    if (want_metrics) {
        if (serve_proc_wait_line(p, "metrics on http://", timeout_s, line, sizeof line, why, cap) !=
            0) {
            return -1;
        }
        /* "metrics on http://HOST:PORT/metrics": the port ends at the '/' */
        char *slash = strstr(line, "/metrics");
        if (slash != NULL) {
            *slash = '\0';
        }
        p->metrics_port = port_after(line, "http://");
    }
    return 0;
}

int serve_proc_stop(serve_proc *p, int sig, double timeout_s)
{
    if (p->pid <= 0) {
        return -1;
    }
    kill(p->pid, sig);
    double until = now_s() + timeout_s * specx_test_timeout_scale();
    while (p->fd >= 0 && now_s() < until) {
        fill(p, until - now_s());
    }
    int status = 0;
    if (p->fd >= 0) { /* still running past the deadline */
        kill(p->pid, SIGKILL);
    }
    waitpid(p->pid, &status, 0);
    p->pid = 0;
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void serve_proc_free(serve_proc *p)
{
    if (p->pid > 0) {
        serve_proc_stop(p, SIGKILL, 5);
    }
    free(p->log);
    p->log = NULL;
    p->loglen = p->logcap = 0;
}

bool prom_sample(const char *text, const char *series, double *v)
{
    size_t n = strlen(series);
    for (const char *s = text; s != NULL && *s != '\0';) {
        if (strncmp(s, series, n) == 0 && s[n] == ' ') {
            char *end;
            *v = strtod(s + n + 1, &end);
            return end != s + n + 1;
        }
        s = strchr(s, '\n');
        s = s != NULL ? s + 1 : NULL;
    }
    return false;
}

int prom_families_documented(const char *text, char *why, size_t cap)
{
    const char *src = getenv("SPECX_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/docs/metrics.md", src != NULL ? src : ".");
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(why, cap, "cannot open %s", path);
        return -1;
    }
    static char doc[1 << 17];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    doc[n] = '\0';
    fclose(f);
    int families = 0;
    for (const char *p = strstr(text, "# TYPE "); p != NULL; p = strstr(p + 1, "# TYPE ")) {
        char name[128], quoted[140];
        if (sscanf(p, "# TYPE %127s", name) != 1) {
            continue;
        }
        snprintf(quoted, sizeof quoted, "`%s`", name);
        if (strstr(doc, quoted) == NULL) {
            snprintf(why, cap, "%s is exported but not documented in %s", name, path);
            return -1;
        }
        families++;
    }
    return families;
}
