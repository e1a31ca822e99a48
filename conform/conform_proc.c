/* conform_proc.c - child processes with a time limit and small file helpers for the
 * conformance runner: each command runs in its own process group so a timeout (or a merge
 * tool that leaves helpers behind) is cleaned up by killing the group.
 * Layer: conform (private to conform*.c). Uses posix_spawn, so it is safe from worker threads. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conform_int.h"
#include "vf_sha256.h"

extern char **environ;

double vf_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void vf_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static int vf_spawn_actions(posix_spawn_file_actions_t *fa, const char *cwd, const char *out_path,
                            const char *err_path)
{
    const int wflags = O_WRONLY | O_CREAT | O_APPEND;
    int rc = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
    if (!rc)
        rc = posix_spawn_file_actions_addopen(fa, 1, out_path ? out_path : "/dev/null", wflags,
                                              0644);
    if (!rc)
        rc = posix_spawn_file_actions_addopen(fa, 2, err_path ? err_path : "/dev/null", wflags,
                                              0644);
    if (!rc && cwd)
        rc = posix_spawn_file_actions_addchdir_np(fa, cwd);
    return rc;
}

/* Wait for pid; past the deadline kill its group and reap it. */
static void vf_wait_deadline(pid_t pid, double start, double timeout_s, vf_proc_result *r)
{
    int status = 0;
    long nap = 1;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w == -1 && errno != EINTR) {
            status = 0;
            break;
        }
        if (timeout_s > 0 && vf_now_seconds() - start > timeout_s) {
            r->timed_out = true;
            kill(-pid, SIGKILL);
            while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
                ;
            break;
        }
        vf_sleep_ms(nap);
        if (nap < 20)
            nap *= 2;
    }
    /* Whatever the command left running in its group goes too (daemons it forked). */
    kill(-pid, SIGKILL);
    r->seconds = vf_now_seconds() - start;
    if (WIFSIGNALED(status)) {
        r->signaled = true;
        r->code = WTERMSIG(status);
    } else {
        r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
    }
}

vf_status vf_proc_run(const char *const argv[], const char *cwd, const char *out_path,
                      const char *err_path, double timeout_s, vf_proc_result *r, vf_error *err)
{
    memset(r, 0, sizeof *r);
    char *args[64];
    size_t nargs = 0;
    while (argv[nargs] && nargs < 63)
        nargs++;
    memcpy(args, argv, nargs * sizeof *args); /* posix_spawn wants char *const[] */
    args[nargs] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc)
        return VF_FAIL_ERRNO(err, rc, VF_OFF_NONE, "cannot prepare to run '%s'", argv[0]);
    rc = posix_spawnattr_init(&at);
    if (rc) {
        posix_spawn_file_actions_destroy(&fa);
        return VF_FAIL_ERRNO(err, rc, VF_OFF_NONE, "cannot prepare to run '%s'", argv[0]);
    }
    rc = vf_spawn_actions(&fa, cwd, out_path, err_path);
    /* The CLI may ignore SIGPIPE for itself; commands get the default back. */
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    if (!rc)
        rc = posix_spawnattr_setsigdefault(&at, &def);
    if (!rc)
        rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
    if (!rc)
        rc = posix_spawnattr_setpgroup(&at, 0);
    double start = vf_now_seconds();
    pid_t pid = 0;
    if (!rc)
        rc = posix_spawnp(&pid, args[0], &fa, &at, args, environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    if (rc)
        return VF_FAIL_ERRNO(err, rc, VF_OFF_NONE, "cannot run '%s'", argv[0]);
    vf_wait_deadline(pid, start, timeout_s, r);
    return VF_OK;
}

void vf_proc_describe(const vf_proc_result *r, char *buf, size_t len)
{
    if (r->timed_out)
        snprintf(buf, len, "timed out after %.1f s (process group killed)", r->seconds);
    else if (r->signaled)
        snprintf(buf, len, "killed by signal %d (%s)", r->code, strsignal(r->code));
    else
        snprintf(buf, len, "exited with status %d", r->code);
}

static int vf_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
    return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

vf_status vf_rm_tree(const char *path, vf_error *err)
{
    struct stat st;
    if (lstat(path, &st) == -1 && errno == ENOENT)
        return VF_OK;
    if (nftw(path, vf_rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "cannot remove '%s'", path);
    return VF_OK;
}

vf_status vf_read_text(const char *path, size_t max, char **out, vf_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "cannot open '%s'", path);
    char *buf = malloc(max + 1);
    if (!buf) {
        fclose(f);
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "reading '%s'", path);
    }
    size_t n = fread(buf, 1, max, f);
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) {
        free(buf);
        return VF_FAIL(err, VF_E_IO, VF_OFF_NONE, "cannot read '%s'", path);
    }
    buf[n] = '\0';
    *out = buf;
    return VF_OK;
}

vf_status vf_hash_file(const char *path, char hex[65], vf_error *err)
{
    vf_sha256 *h = NULL;
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "cannot open '%s'", path);
    vf_status st = vf_sha256_new(&h, err);
    if (st)
        goto fail;
    const size_t chunk = 1u << 20;
    buf = malloc(chunk);
    if (!buf) {
        st = VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "hashing '%s'", path);
        goto fail;
    }
    size_t n;
    while ((n = fread(buf, 1, chunk, f)) > 0)
        if ((st = vf_sha256_update(h, buf, n, err)))
            goto fail;
    if (ferror(f)) {
        st = VF_FAIL(err, VF_E_IO, VF_OFF_NONE, "cannot read '%s'", path);
        goto fail;
    }
    uint8_t md[VF_SHA256_LEN];
    if ((st = vf_sha256_final(h, md, err)))
        goto fail;
    vf_sha256_hex(md, hex);
fail:
    free(buf);
    vf_sha256_free(h);
    fclose(f);
    return st;
}

void vf_first_line(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    char *text = NULL;
    if (vf_read_text(path, 1u << 16, &text, NULL))
        return;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t' || *line == '\r')
            line++;
        if (*line) {
            snprintf(buf, len, "%s", line);
            break;
        }
    }
    free(text);
}

void vf_last_line(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    char *text = NULL;
    if (vf_read_text(path, 1u << 20, &text, NULL))
        return;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t' || *line == '\r')
            line++;
        if (*line)
            snprintf(buf, len, "%s", line);
    }
    free(text);
}

char *vf_shell_quote(const char *s)
{
    /* Words made only of these need no quotes, which keeps reproducers readable. */
    const char *safe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./=:,+-@%";
    if (*s && strspn(s, safe) == strlen(s))
        return strdup(s);
    size_t n = 3;
    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 4 : 1;
    char *q = malloc(n);
    if (!q)
        return NULL;
    char *w = q;
    *w++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(w, "'\\''", 4);
            w += 4;
        } else {
            *w++ = *p;
        }
    }
    *w++ = '\'';
    *w = '\0';
    return q;
}
