/* Test helpers that run the specx binary as a subprocess (see specx_proc.h). */
#include "specx_proc.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
/* cmocka needs the headers above */
#include <cmocka.h>

static const char *proc_bin;
static const char *proc_tmpdir;

void specx_proc_init(const char *specx_bin, const char *tmpdir)
{
    proc_bin = specx_bin;
    proc_tmpdir = tmpdir;
}

void specx_proc_slurp(const char *path, char *buf, size_t n)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    size_t k = fread(buf, 1, n - 1, f);
    buf[k] = '\0';
    fclose(f);
}

specx_proc_result *specx_proc_run(const char *fmt, ...)
{
    char args[8192], cmd[12288], errpath[512], outpath[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", proc_tmpdir);
    snprintf(outpath, sizeof outpath, "%s/stdout.txt", proc_tmpdir);
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s' </dev/null", proc_bin, args, outpath, errpath);
    specx_proc_result *r = calloc(1, sizeof *r);
    assert_non_null(r);
    int st = system(cmd);
    r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    specx_proc_slurp(errpath, r->err, sizeof r->err);
    specx_proc_slurp(outpath, r->out, sizeof r->out);
    if (r->rc != 0) {
        fprintf(stderr, "# specx %s\n# exit %d, stderr:\n%s\n", args, r->rc, r->err);
    }
    return r;
}

int specx_proc_count_lines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++) {
        n += *s == '\n';
    }
    return n;
}

void specx_proc_server_start(specx_proc_server *s, const char *model, const char *model_dir)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(proc_bin, proc_bin, "serve", "--model", model, "--model-dir", model_dir, "--port",
              "0", "--bind", "127.0.0.1", "--grace", "0", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    s->out = fdopen(fds[0], "r");
    assert_non_null(s->out);
    char line[256] = "";
    assert_non_null(fgets(line, sizeof line, s->out));
    const char *colon = strrchr(line, ':');
    assert_true(strncmp(line, "listening on ", 13) == 0 && colon != NULL);
    s->port = atoi(colon + 1);
    assert_true(s->port > 0);
}

void specx_proc_server_stop(specx_proc_server *s)
{
    kill(s->pid, SIGTERM);
    char buf[4096];
    while (fread(buf, 1, sizeof buf, s->out) > 0) {
    }
    fclose(s->out);
    int st = 0;
    assert_int_equal(waitpid(s->pid, &st, 0), s->pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
