/* cmd_token.c — `specx token new --id VEHICLE`: a new per-vehicle bearer
 * token, shown once, and the line for the server's --auth-tokens file
 * (docs/security.md). The server keeps only the token's hash. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "specx/auth.h"

#include "cli.h"
#include "commands.h"

static void usage(FILE *f, const specx_cli_opt *opts)
{
    fprintf(f, "usage: specx token new --id VEHICLE [--out FILE]\n"
               "\n"
               "Makes a new bearer token for one vehicle (256 random bits). Prints the token\n"
               "once, then the line to add to the server's --auth-tokens file (the token's\n"
               "SHA-256, never the token). With --out the token goes to FILE (created with\n"
               "mode 0600; an existing file is refused) and only the line is printed. The\n"
               "vehicle reads the token with --server ...,token-file=PATH or token-env=VAR.\n"
               "\n");
    specx_cli_print_options(f, opts);
}

/* Writes the token to a new file only its owner can read. */
static int write_token(const char *path, const specx_token *tok)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "specx token: cannot create %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (not overwritten: remove it first)" : "");
        return 1;
    }
    char buf[SPECX_TOKEN_MAX + 2];
    int n = snprintf(buf, sizeof buf, "%s\n", tok->s);
    bool ok = write(fd, buf, (size_t)n) == n;
    explicit_bzero(buf, sizeof buf);
    ok = close(fd) == 0 && ok;
    if (!ok) {
        fprintf(stderr, "specx token: writing %s failed: %s\n", path, strerror(errno));
        unlink(path);
        return 1;
    }
    return 0;
}

static int token_new(const char *id, const char *out)
{
    specx_err err = {{0}};
    specx_status st = specx_auth_id_check(id, &err);
    specx_token tok = {.len = 0};
    if (st == SPECX_OK) {
        st = specx_token_generate(&tok, &err);
    }
    char line[SPECX_AUTH_ID_MAX + SPECX_TOKEN_HASH_STRLEN + 4];
    if (st == SPECX_OK) {
        st = specx_token_file_line(id, &tok, line, sizeof line, &err);
    }
    if (st != SPECX_OK) {
        specx_token_clear(&tok);
        fprintf(stderr, "specx token: %s\n", specx_err_text(&err, st));
        return st == SPECX_EINVAL ? 2 : 1;
    }
    int rc = 0;
    if (out != NULL) {
        rc = write_token(out, &tok);
        if (rc == 0) {
            fprintf(stderr,
                    "specx token: token for %s written to %s; add this line to the "
                    "server's token file:\n",
                    id, out);
        }
    } else {
        printf("%s\n", tok.s);
        fprintf(stderr,
                "specx token: line 1 is the token for %s (shown only now), line 2 the "
                "line for the server's token file\n",
                id);
    }
    specx_token_clear(&tok);
    if (rc == 0) {
        fputs(line, stdout);
        fflush(stdout);
    }
    return rc;
}

int specx_cmd_token(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "new") != 0) {
        bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        fprintf(help ? stdout : stderr, "usage: specx token new --id VEHICLE [--out FILE]   "
                                        "(specx token new --help)\n");
        return help ? 0 : 2;
    }
    const char *id = NULL, *out = NULL;
    const specx_cli_opt opts[] = {
        {"id", 0, SPECX_CLI_STRING, &id, .meta = "VEHICLE",
         .help = "the vehicle's id: 1 to 64 of A-Z a-z 0-9 . _ - (required)"},
        {"out", 0, SPECX_CLI_STRING, &out, .meta = "FILE",
         .help = "write the token to FILE (new, mode 0600) instead of stdout"},
        {0},
    };
    int rc = specx_cli_parse("specx token new", opts, argc - 1, argv + 1, NULL);
    if (rc == SPECX_CLI_HELP) {
        usage(stdout, opts);
        return 0;
    }
    if (rc != SPECX_CLI_OK) {
        return 2;
    }
    if (id == NULL) {
        fprintf(stderr, "specx token new: --id VEHICLE is required (see specx token new --help)\n");
        return 2;
    }
    return token_new(id, out);
}
