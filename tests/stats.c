/*
 * The counters say what was done: a core's own counts, the process totals
 * (live cores, destroyed cores and threads without one), and the JSON line
 * RINGCRYPT_STATS=PATH appends at exit, checked from outside by running this
 * binary as a child process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "harness.h"

extern char **environ;

static _Atomic int released;

/*
 * Jobs from index fail_from on fail with -EIO. Gated requests wait at the
 * harness's gate (t_work_blocked), so that the test decides when they end.
 */
struct body_arg {
    int fail_from;
    bool gated;
};

static int expected_ret(const struct t_job *j)
{
    return j->index >= ((const struct body_arg *)j->arg)->fail_from ? -EIO : 0;
}

static int body(struct t_job *j)
{
    const struct body_arg *a = j->arg;
    struct rc_req *req = t_req(a->gated ? t_work_blocked : t_work_compute, j->index,
                               expected_ret(j), &released);
    int rc;

    if (req == NULL)
        return -ENOMEM;
    rc = rc_offload(req);
    if (rc == 0 && ((struct t_work *)rc_req_ctx(req))->out != j->index * 3 + 1)
        rc = -EPROTO;
    rc_req_free(req);
    return rc;
}

/* n synchronous offloads (outside any job) on the calling thread. */
static void sync_calls(int n)
{
    for (int i = 0; i < n; i++) {
        struct rc_req *req = t_req(t_work_compute, i, 0, &released);

        CHECK_EQ(rc_offload(req), 0);
        rc_req_free(req);
    }
}

/*
 * Runs n jobs in mode to the end; the driver (and its core) stay for the
 * caller to fini. Gated jobs have all paused before the gate opens, so none
 * is answered before its pause, however the threads are scheduled.
 */
static void run_jobs(struct t_driver *d, struct t_job *jobs, enum t_mode mode, int n,
                     const struct body_arg *arg)
{
    CHECK_EQ(t_driver_init(d, mode, jobs, n, body, (void *)arg), 0);
    if (arg->gated) {
        t_gate_close();
        for (int i = 0; i < n; i++)
            CHECK_EQ(t_job_step(&jobs[i]), ASYNC_PAUSE);
        t_gate_open();
        CHECK_EQ(t_driver_loop(d, jobs, n, 60000), 0);
    } else {
        CHECK_EQ(t_driver_run(d, jobs, n, 60000), 0);
    }
    for (int i = 0; i < n; i++)
        CHECK(jobs[i].finished && jobs[i].ret == expected_ret(&jobs[i]), "%s job %d: %d",
              t_mode_names[mode], i, jobs[i].ret);
}

/* As the exit report spells them. */
static const char *const names[] = {
    "submitted", "completed", "paused", "resumed", "callbacks",
    "fd_wakes", "eagain", "errors", "timeouts", "inline",
};
#define NCOUNTERS 10

static void to_array(const struct rc_stats *s, uint64_t *v)
{
    v[0] = s->submitted;
    v[1] = s->completed;
    v[2] = s->paused;
    v[3] = s->resumed;
    v[4] = s->callbacks;
    v[5] = s->fd_wakes;
    v[6] = s->eagain;
    v[7] = s->errors;
    v[8] = s->timeouts;
    v[9] = s->inline_ops;
}

static void check_stats(const char *what, const struct rc_stats *s, const uint64_t *want)
{
    uint64_t v[NCOUNTERS];

    to_array(s, v);
    for (int i = 0; i < NCOUNTERS; i++)
        CHECK(v[i] == want[i], "%s: %s = %llu, expected %llu", what, names[i],
              (unsigned long long)v[i], (unsigned long long)want[i]);
}

/* ---- in-process counters ------------------------------------------------ */

/*
 * Every table of counts below is in struct rc_stats order:
 * submitted completed paused resumed callbacks fd_wakes eagain errors timeouts inline
 */
static const uint64_t zero[NCOUNTERS];

static void *read_core_stats(void *arg)
{
    static struct rc_stats s;

    rc_core_stats(arg, &s);
    return &s;
}

static void *other_core(void *arg)
{
    static const struct body_arg ok = { 4, false };
    struct t_job jobs[4];
    struct t_driver d;

    (void)arg;
    run_jobs(&d, jobs, T_CORE, 4, &ok);
    t_driver_fini(&d, jobs, 4);
    return NULL;
}

/*
 * Core mode, 8 good and 2 failing requests, 5 synchronous calls on the core's
 * thread: the core has it all, the totals agree, and a destroyed core's
 * counts stay in the totals, this thread's as another's.
 */
static int core_and_totals(void)
{
    static const struct body_arg arg = { 8, false };
    static const uint64_t want[NCOUNTERS] = { 10, 10, 10, 10, 10, 0, 0, 2, 0, 5 };
    static const uint64_t want2[NCOUNTERS] = { 14, 14, 14, 14, 14, 0, 0, 2, 0, 5 };
    struct t_job jobs[10];
    struct t_driver d;
    struct rc_stats s;
    void *from_other;
    pthread_t t;

    rc_stats_total(&s);
    check_stats("totals at start", &s, zero);
    CHECK_EQ(t_driver_init(&d, T_CORE, jobs, 10, body, (void *)&arg), 0);
    rc_core_stats(d.core, &s);
    check_stats("a new core", &s, zero);
    CHECK_EQ(t_driver_run(&d, jobs, 10, 60000), 0);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(jobs[i].ret, expected_ret(&jobs[i]));
    sync_calls(5);

    rc_core_stats(d.core, &s);
    check_stats("the core", &s, want);
    rc_stats_total(&s);
    check_stats("totals", &s, want);
    /* Readable from any thread. */
    CHECK_EQ(pthread_create(&t, NULL, read_core_stats, d.core), 0);
    CHECK_EQ(pthread_join(t, &from_other), 0);
    check_stats("the core, read from another thread", from_other, want);

    t_driver_fini(&d, jobs, 10);
    rc_stats_total(&s);
    check_stats("totals after rc_core_destroy", &s, want);

    CHECK_EQ(pthread_create(&t, NULL, other_core, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    rc_stats_total(&s);
    check_stats("totals after another thread's core came and went", &s, want2);
    CHECK_EQ(atomic_load(&released), 19);
    return T_PASS;
}

static void *coreless(void *arg)
{
    /* Gated: every job pauses before its answer, so the counts are exact. */
    static const struct body_arg gated = { 8, true };
    struct t_job jobs[4];
    struct t_driver d;
    int base = atomic_load(&released);

    (void)arg;
    sync_calls(3);
    run_jobs(&d, jobs, T_CALLBACK, 4, &gated);
    t_driver_fini(&d, jobs, 4);
    run_jobs(&d, jobs, T_FD, 2, &gated);
    t_driver_fini(&d, jobs, 2);
    /* The workers count their wake-ups after the jobs could see their answers. */
    CHECK_EQ(t_wait_released(&released, base + 9, NULL), base + 9);
    return NULL;
}

/* Work done by a thread without a core counts in the totals, not in some core's. */
static int threads_without_core(void)
{
    static const uint64_t want[NCOUNTERS] = { 6, 6, 6, 6, 4, 2, 0, 0, 0, 3 };
    struct rc_core *core;
    struct rc_stats s;
    pthread_t t;

    CHECK_EQ(rc_core_create(NULL, &core), 0);
    CHECK_EQ(pthread_create(&t, NULL, coreless, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    rc_core_stats(core, &s);
    check_stats("an idle core", &s, zero);
    rc_stats_total(&s);
    check_stats("totals", &s, want);
    rc_core_destroy(core);
    rc_stats_total(&s);
    check_stats("totals after rc_core_destroy", &s, want);
    return T_PASS;
}

/*
 * The reserved tails of the structs the library fills come back as zeros
 * whatever the caller left there: fields added later take those places.
 */
static int reserved_zeroed(void)
{
    struct rc_core *core;
    struct rc_stats s;
    struct rc_info info;

    CHECK_EQ(rc_core_create(NULL, &core), 0);
    memset(&s, 0xa5, sizeof(s));
    rc_core_stats(core, &s);
    for (size_t i = 0; i < sizeof(s.reserved) / sizeof(s.reserved[0]); i++)
        CHECK(s.reserved[i] == 0, "rc_core_stats left reserved[%zu]", i);
    memset(&s, 0xa5, sizeof(s));
    rc_stats_total(&s);
    for (size_t i = 0; i < sizeof(s.reserved) / sizeof(s.reserved[0]); i++)
        CHECK(s.reserved[i] == 0, "rc_stats_total left reserved[%zu]", i);
    memset(&info, 0xa5, sizeof(info));
    CHECK_EQ(rc_info(&info), 0);
    for (size_t i = 0; i < sizeof(info.reserved) / sizeof(info.reserved[0]); i++)
        CHECK(info.reserved[i] == NULL, "rc_info left reserved[%zu]", i);
    rc_core_destroy(core);
    return T_PASS;
}

/* ---- the exit report ---------------------------------------------------- */

/*
 * What the child does, with MAX_INFLIGHT=2, so that every counter ends up
 * non-zero and none equal to its neighbours by chance. Each count is exact:
 *  - 6 core-mode jobs started before any answer is reaped: 2 get slots, the
 *    other 4 are pushed back once each (eagain 4), so they pause and are
 *    called back twice, to retry and when done (paused 10, callbacks 10);
 *  - 2 core-mode jobs failing with -EIO (errors 2, callbacks 2);
 *  - 1 fd-mode job on the then core-less thread (fd_wakes 1, no callback);
 *  - 3 synchronous calls (inline 3);
 *  - 1 core-mode job held at the gate past its deadline (timeouts 1, errors 1,
 *    callbacks 1).
 * Only that last request may be late: the others have a minute, and it runs
 * after a restart with a 200 ms deadline, which it misses however fast the
 * machine is.
 */
static const uint64_t report_want[NCOUNTERS] = { 10, 10, 14, 14, 13, 1, 4, 3, 1, 3 };
static const char *const report_env[] = { "RINGCRYPT_MAX_INFLIGHT=2", "RINGCRYPT_PLACEMENT=offload",
                                           NULL };

static void report_workload(void)
{
    static const struct body_arg ok = { 6, false }, eio = { 0, false }, gated = { 1, true };
    struct t_job jobs[6];
    struct t_driver d;
    struct rc_stats s;

    CHECK_EQ(rc_config_set("timeout_ms", "60000"), 0);
    run_jobs(&d, jobs, T_CORE, 6, &ok);
    t_driver_fini(&d, jobs, 6);
    run_jobs(&d, jobs, T_CORE, 2, &eio);
    t_driver_fini(&d, jobs, 2);
    run_jobs(&d, jobs, T_FD, 1, &gated);
    t_driver_fini(&d, jobs, 1);
    sync_calls(3);

    rc_shutdown();
    CHECK_EQ(rc_config_set("timeout_ms", "200"), 0);
    t_gate_close();
    CHECK_EQ(t_driver_init(&d, T_CORE, jobs, 1, body, (void *)&gated), 0);
    CHECK_EQ(t_driver_run(&d, jobs, 1, 60000), 0);
    CHECK_EQ(jobs[0].ret, -ETIMEDOUT);
    t_driver_fini(&d, jobs, 1);
    /* The late answer is dropped once the worker is done; then nothing is in flight. */
    t_gate_open();
    CHECK_EQ(t_wait_released(&released, 13, NULL), 13);
    rc_stats_total(&s);
    check_stats("the child's totals", &s, report_want);
}

static int report_child(void)
{
    report_workload();
    return T_PASS;
}

/* An application that tidies up with rc_shutdown before exiting. */
static int report_child_shutdown(void)
{
    report_workload();
    rc_shutdown();
    return T_PASS;
}

/* Runs this binary's scenario `name` with report_env and RINGCRYPT_STATS=stats_path. */
static pid_t spawn_child(const char *name, const char *stats_path, const char *stderr_path)
{
    char *argv[] = { "stats", (char *)name, NULL };
    char stats_env[4200];
    char **envp;
    size_t n = 0;
    pid_t pid;

    while (environ[n] != NULL)
        n++;
    envp = calloc(n + 4, sizeof(*envp));
    if (envp == NULL)
        return -1;
    n = 0;
    for (char **e = environ; *e != NULL; e++)
        if (strncmp(*e, "RINGCRYPT_", 10) != 0)
            envp[n++] = *e;
    for (const char *const *e = report_env; *e != NULL; e++)
        envp[n++] = (char *)*e;
    snprintf(stats_env, sizeof(stats_env), "RINGCRYPT_STATS=%s", stats_path);
    envp[n++] = stats_env;

    pid = fork();
    if (pid == 0) {
        if (stderr_path != NULL) {
            int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

            if (fd >= 0)
                dup2(fd, 2);
        }
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    free(envp);
    return pid;
}

/* The child's exit status, or -1 when it did not exit normally. */
static int wait_child(pid_t pid)
{
    int status;

    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    if (WIFSIGNALED(status))
        fprintf(stderr, "child %d: killed by signal %d\n", (int)pid, WTERMSIG(status));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;

    if (f == NULL)
        return NULL;
    buf = calloc(1, 65536);
    if (buf != NULL && fread(buf, 1, 65535, f) == 0 && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* The value of "key":N in a JSON line; -1 when missing or not a number, -2 when repeated. */
static long long field(const char *line, const char *key)
{
    char pat[64];
    const char *p;
    char *end;
    long long v;

    snprintf(pat, sizeof(pat), "\"%s\":", key);
    p = strstr(line, pat);
    if (p == NULL)
        return -1;
    /* Once only: a repeated key would make the line ambiguous. */
    if (strstr(p + 1, pat) != NULL)
        return -2;
    v = strtoll(p + strlen(pat), &end, 10);
    if (end == p + strlen(pat) || (*end != ',' && *end != '}'))
        return -1;
    return v;
}

/* Checks that the text holds exactly the report lines of pids[0..n). */
static void check_report(const char *text, const pid_t *pids, int n)
{
    const char *line = text;
    int lines = 0;

    CHECK(text != NULL, "no statistics file");
    if (text == NULL)
        return;
    while (*line != '\0') {
        const char *nl = strchr(line, '\n');
        char buf[2048];
        size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);

        CHECK(nl != NULL, "the last line has no newline");
        snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
        CHECK(len >= 2 && buf[0] == '{' && buf[len - 1] == '}', "not a JSON object: %s", buf);
        if (lines < n) {
            CHECK_EQ(field(buf, "pid"), pids[lines]);
            for (int i = 0; i < NCOUNTERS; i++)
                CHECK(field(buf, names[i]) == (long long)report_want[i],
                      "line %d: %s = %lld, expected %llu: %s", lines + 1, names[i],
                      field(buf, names[i]), (unsigned long long)report_want[i], buf);
        }
        lines++;
        line = nl != NULL ? nl + 1 : line + len;
    }
    CHECK_EQ(lines, n);
}

static bool make_dir(char *tmpl)
{
    bool ok = mkdtemp(tmpl) != NULL;

    CHECK(ok, "mkdtemp: %s", strerror(errno));
    return ok;
}

static void remove_all(const char *dir, const char *const *files)
{
    char path[4096];

    for (; *files != NULL; files++) {
        snprintf(path, sizeof(path), "%s/%s", dir, *files);
        unlink(path);
        rmdir(path);
    }
    rmdir(dir);
}

static int report_runs(const char *child, int runs)
{
    static const char *const files[] = { "stats.json", NULL };
    char dir[] = "/tmp/rc-stats-XXXXXX", path[4096];
    pid_t pids[2];
    char *text;

    if (!make_dir(dir))
        return T_FAIL;
    snprintf(path, sizeof(path), "%s/stats.json", dir);
    for (int i = 0; i < runs; i++) {
        pids[i] = spawn_child(child, path, NULL);
        CHECK_EQ(wait_child(pids[i]), 0);
    }
    text = slurp(path);
    check_report(text, pids, runs);
    free(text);
    remove_all(dir, files);
    return T_PASS;
}

static int exit_report(void) { return report_runs("report_child", 1); }
static int exit_report_appends(void) { return report_runs("report_child", 2); }
static int exit_report_after_shutdown(void) { return report_runs("report_child_shutdown", 1); }

/* A path that cannot be written: the child still exits normally, and says why. */
static int exit_report_unwritable(void)
{
    static const char *const files[] = { "target", "child.err", NULL };
    char dir[] = "/tmp/rc-stats-XXXXXX", target[4096], err[4096], missing[4200];
    char *text;

    if (!make_dir(dir))
        return T_FAIL;
    snprintf(target, sizeof(target), "%s/target", dir);
    snprintf(err, sizeof(err), "%s/child.err", dir);
    snprintf(missing, sizeof(missing), "%s/no/such/dir/stats.json", dir);
    CHECK_EQ(mkdir(target, 0700), 0);

    CHECK_EQ(wait_child(spawn_child("report_child", target, err)), 0);
    text = slurp(err);
    CHECK(text != NULL && strstr(text, target) != NULL,
          "the child did not say it could not write %s: %s", target, text ? text : "");
    free(text);
    CHECK(rmdir(target) == 0, "the directory given as path was written into");

    CHECK_EQ(wait_child(spawn_child("report_child", missing, err)), 0);
    text = slurp(err);
    CHECK(text != NULL && strstr(text, missing) != NULL,
          "the child did not say it could not write %s: %s", missing, text ? text : "");
    free(text);
    remove_all(dir, files);
    return T_PASS;
}

/*
 * A synchronous application (no ASYNC job) calling the provider: a signature
 * is counted as run inline, so its counters show ringcrypt in the path; a
 * small cipher call, never worth offloading, is not counted.
 */
static int sync_provider_counted(void)
{
    static const unsigned char key[32], iv[12], msg[64];
    OSSL_LIB_CTX *lib = t_provider_libctx();
    EVP_PKEY *ec = lib != NULL ? EVP_PKEY_Q_keygen(lib, NULL, "EC", "P-256") : NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_CIPHER *aes = lib != NULL ? EVP_CIPHER_fetch(lib, "AES-256-GCM", NULL) : NULL;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char sig[128], out[sizeof(msg)];
    size_t siglen = sizeof(sig);
    struct rc_stats before, s;
    int n = 0;

    CHECK(ec != NULL && md != NULL && aes != NULL && c != NULL, "set-up");
    if (t_failures)
        goto out;
    rc_stats_total(&before);
    CHECK_EQ(EVP_DigestSignInit_ex(md, NULL, "SHA256", lib, NULL, ec, NULL), 1);
    CHECK_EQ(EVP_DigestSign(md, sig, &siglen, msg, sizeof(msg)), 1);
    t_stats_since(&before, &s);
    CHECK_EQ(s.inline_ops, 1);
    CHECK_EQ(s.submitted, 0);

    rc_stats_total(&before);
    CHECK_EQ(EVP_EncryptInit_ex2(c, aes, key, iv, NULL), 1);
    CHECK_EQ(EVP_EncryptUpdate(c, out, &n, msg, sizeof(msg)), 1);
    t_stats_since(&before, &s);
    CHECK_EQ(s.inline_ops, 0);
out:
    EVP_CIPHER_CTX_free(c);
    EVP_CIPHER_free(aes);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(ec);
    t_provider_free(lib);
    return t_failures ? T_FAIL : T_PASS;
}

static const struct scenario scenarios[] = {
    { "core_and_totals", core_and_totals, NULL },
    { "threads_without_core", threads_without_core, NULL },
    { "reserved_zeroed", reserved_zeroed, NULL },
    { "sync_provider_counted", sync_provider_counted, NULL },
    { "report_child", report_child, report_env },
    { "report_child_shutdown", report_child_shutdown, report_env },
    { "exit_report", exit_report, NULL },
    { "exit_report_appends", exit_report_appends, NULL },
    { "exit_report_after_shutdown", exit_report_after_shutdown, NULL },
    { "exit_report_unwritable", exit_report_unwritable, NULL },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
