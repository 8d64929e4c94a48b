#include "harness.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stddef.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libgen.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "clock.h"

extern char **environ;

int t_failures;

const char *const t_mode_names[] = { "core", "callback", "fd" };

/* ---- scenarios ---------------------------------------------------------- */

static int spawn_scenario(const char *self, const struct scenario *s)
{
    char *argv[] = { (char *)self, (char *)s->name, NULL };
    char **envp;
    size_t n = 0, extra = 0;
    bool placed = false;
    pid_t pid;
    int status, rc;

    while (environ[n] != NULL)
        n++;
    while (s->env != NULL && s->env[extra] != NULL)
        placed |= strncmp(s->env[extra++], "RINGCRYPT_PLACEMENT=", 20) == 0;
    envp = calloc(n + extra + 2, sizeof(*envp));
    if (envp == NULL)
        return T_FAIL;
    /* The scenario's own RINGCRYPT_* settings replace any inherited ones. */
    n = 0;
    for (char **e = environ; *e != NULL; e++)
        if (strncmp(*e, "RINGCRYPT_", 10) != 0)
            envp[n++] = *e;
    for (size_t i = 0; i < extra; i++)
        envp[n++] = (char *)s->env[i];
    /* Counts are exact when every call goes to a backend; tests/placement asks for adaptive. */
    if (!placed)
        envp[n++] = "RINGCRYPT_PLACEMENT=offload";
    rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, envp);
    free(envp);
    if (rc != 0) {
        fprintf(stderr, "cannot start scenario %s: %s\n", s->name, strerror(rc));
        return T_FAIL;
    }
    if (waitpid(pid, &status, 0) < 0)
        return T_FAIL;
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "scenario %s: killed by signal %d\n", s->name, WTERMSIG(status));
        return T_FAIL;
    }
    return WEXITSTATUS(status);
}

int t_scenario_index(const struct scenario *scenarios, const char *name)
{
    for (int i = 0; scenarios[i].name != NULL; i++)
        if (strcmp(scenarios[i].name, name) == 0)
            return i;
    return -1;
}

int t_main(int argc, char **argv, const struct scenario *scenarios)
{
    int worst = T_PASS, ran = 0, skipped = 0;

    if (argc > 1) {
        int i = t_scenario_index(scenarios, argv[1]), rc;

        if (i < 0) {
            fprintf(stderr, "no scenario %s\n", argv[1]);
            return T_FAIL;
        }
        /* Run by hand: the exact counts, as spawn_scenario gives them, unless the caller says. */
        setenv("RINGCRYPT_PLACEMENT", "offload", 0);
        rc = scenarios[i].run();
        return rc == T_PASS && t_failures > 0 ? T_FAIL : rc;
    }
    for (const struct scenario *s = scenarios; s->name != NULL; s++) {
        int rc = spawn_scenario(argv[0], s);

        printf("  %-40s %s\n", s->name, rc == T_PASS ? "ok" : rc == T_SKIP ? "skip" : "FAIL");
        fflush(stdout);
        ran++;
        if (rc == T_SKIP)
            skipped++;
        else if (rc != T_PASS)
            worst = T_FAIL;
    }
    if (worst == T_PASS && skipped == ran)
        return T_SKIP;
    return worst;
}

int t_main_pq(int argc, char **argv, const struct scenario *scenarios)
{
    EVP_KEM *kem = EVP_KEM_fetch(NULL, "ML-KEM-768", "provider=default");

    ERR_clear_error();
    if (kem == NULL || scenarios[0].name == NULL) {
        printf("OpenSSL %s has no ML-KEM\n", OpenSSL_version(OPENSSL_VERSION_STRING));
        EVP_KEM_free(kem);
        return T_SKIP;
    }
    EVP_KEM_free(kem);
    return t_main(argc, argv, scenarios);
}

/* ---- work --------------------------------------------------------------- */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t held_cond = PTHREAD_COND_INITIALIZER;
static bool gate_closed;
static int gate_held;

void t_gate_close(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_closed = true;
    pthread_mutex_unlock(&gate_lock);
}

void t_gate_open(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_closed = false;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

int t_work_compute(void *ctx)
{
    struct t_work *w = ctx;

    if (w->delay_us != 0) {
        struct timespec ts = { .tv_nsec = (long)w->delay_us * 1000 };

        nanosleep(&ts, NULL);
    }
    if (w->ran != NULL)
        atomic_fetch_add(w->ran, 1);
    w->out = w->in * 3 + 1;
    return w->result;
}

int t_work_blocked(void *ctx)
{
    pthread_mutex_lock(&gate_lock);
    if (gate_closed) {
        gate_held++;
        pthread_cond_broadcast(&held_cond);
        while (gate_closed)
            pthread_cond_wait(&gate_cond, &gate_lock);
        gate_held--;
    }
    pthread_mutex_unlock(&gate_lock);
    return t_work_compute(ctx);
}

int t_gate_wait_held(int n)
{
    struct timespec until = rc_realtime_after_ms(20000);
    int held;

    pthread_mutex_lock(&gate_lock);
    while (gate_held < n && pthread_cond_timedwait(&held_cond, &gate_lock, &until) == 0)
        ;
    held = gate_held;
    pthread_mutex_unlock(&gate_lock);
    return held;
}

void t_work_release(void *ctx)
{
    struct t_work *w = ctx;

    if (w->released != NULL)
        atomic_fetch_add(w->released, 1);
}

struct rc_req *t_req(int (*fn)(void *), long in, int result, _Atomic int *released)
{
    struct rc_req *req = rc_req_new(fn, sizeof(struct t_work), t_work_release);
    struct t_work *w;

    if (req == NULL)
        return NULL;
    w = rc_req_ctx(req);
    w->in = in;
    w->result = result;
    w->released = released;
    return req;
}

int t_offload(const struct t_offload_args *a)
{
    struct rc_req *req = t_req(a->fn, a->in, a->result, a->released);
    struct t_work *w;
    int rc;

    if (req == NULL)
        return -ENOMEM;
    w = rc_req_ctx(req);
    w->delay_us = a->delay_us;
    w->ran = a->ran;
    rc = rc_offload(req);
    if (rc == 0 && w->out != a->in * 3 + 1)
        rc = -EPROTO;
    rc_req_free(req);
    return rc;
}

long t_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int t_wait_released(_Atomic int *released, int want, struct rc_core *core)
{
    long start = t_now_ms();

    while (atomic_load(released) < want && t_now_ms() - start < 20000) {
        if (core != NULL)
            rc_core_run(core, 10);
        else
            usleep(1000);
    }
    return atomic_load(released);
}

/* ---- jobs --------------------------------------------------------------- */

static int job_entry(void *arg)
{
    struct t_job *j = *(struct t_job **)arg;

    return j->body(j);
}

static void record_status(struct t_job *j)
{
    switch (ASYNC_WAIT_CTX_get_status(j->wctx)) {
    case ASYNC_STATUS_OK:
        atomic_fetch_add(&j->seen_ok, 1);
        break;
    case ASYNC_STATUS_EAGAIN:
        atomic_fetch_add(&j->seen_eagain, 1);
        break;
    case ASYNC_STATUS_ERR:
        atomic_fetch_add(&j->seen_err, 1);
        break;
    default:
        break;
    }
}

int t_job_step(struct t_job *j)
{
    int rc = ASYNC_start_job(&j->job, j->wctx, &j->ret, job_entry, &j, sizeof(j));

    if (rc == ASYNC_FINISH) {
        j->finished = true;
        j->d->remaining--;
    }
    return rc;
}

static void resume_task(struct rc_task *t)
{
    struct t_job *j = (struct t_job *)(void *)((char *)t - offsetof(struct t_job, task));

    j->queued = false;
    if (!j->finished && !j->abandoned)
        t_job_step(j);
}

static int wake_core(void *arg)
{
    struct t_job *j = arg;

    atomic_fetch_add(&j->wakes, 1);
    record_status(j);
    if (!j->queued) {
        j->queued = true;
        rc_core_defer(j->d->core, &j->task);
    }
    return 1;
}

static int wake_foreign(void *arg)
{
    struct t_job *j = arg;
    struct t_driver *d = j->d;

    atomic_fetch_add(&j->wakes, 1);
    record_status(j);
    pthread_mutex_lock(&d->lock);
    if (!j->queued) {
        j->queued = true;
        j->next_ready = d->ready;
        d->ready = j;
        pthread_cond_signal(&d->cond);
    }
    pthread_mutex_unlock(&d->lock);
    return 1;
}

int t_driver_init(struct t_driver *d, enum t_mode mode, struct t_job *jobs, int n,
                  int (*body)(struct t_job *), void *arg)
{
    return t_driver_init_opts(d, mode, NULL, jobs, n, body, arg);
}

int t_driver_init_opts(struct t_driver *d, enum t_mode mode, const struct rc_core_opts *opts,
                       struct t_job *jobs, int n, int (*body)(struct t_job *), void *arg)
{
    memset(d, 0, sizeof(*d));
    d->mode = mode;
    d->remaining = n;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    if (mode == T_CORE) {
        int rc = rc_core_create(opts, &d->core);

        if (rc != 0)
            return rc;
    }
    for (int i = 0; i < n; i++) {
        struct t_job *j = &jobs[i];

        memset(j, 0, sizeof(*j));
        j->d = d;
        j->index = i;
        j->body = body;
        j->arg = arg;
        j->task.fn = resume_task;
        j->wctx = ASYNC_WAIT_CTX_new();
        if (j->wctx == NULL)
            return -ENOMEM;
        if (mode == T_CORE)
            ASYNC_WAIT_CTX_set_callback(j->wctx, wake_core, j);
        else if (mode == T_CALLBACK)
            ASYNC_WAIT_CTX_set_callback(j->wctx, wake_foreign, j);
    }
    return 0;
}

static int drive_fd(struct t_driver *d, struct t_job *jobs, int n)
{
    struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
    int *who = calloc((size_t)n, sizeof(*who));
    int np = 0, rc;

    if (pfd == NULL || who == NULL) {
        free(pfd);
        free(who);
        return -ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        OSSL_ASYNC_FD fds[4];
        size_t nfds = 0;

        if (jobs[i].finished || jobs[i].abandoned)
            continue;
        ASYNC_WAIT_CTX_get_all_fds(jobs[i].wctx, NULL, &nfds);
        if (nfds == 0 || nfds > 4) {
            /* No fd to wait on: resume at once (back-pressure on a fresh wait ctx). */
            t_job_step(&jobs[i]);
            record_status(&jobs[i]);
            continue;
        }
        ASYNC_WAIT_CTX_get_all_fds(jobs[i].wctx, fds, &nfds);
        pfd[np].fd = fds[0];
        pfd[np].events = POLLIN;
        who[np++] = i;
    }
    rc = np > 0 ? poll(pfd, (nfds_t)np, 100) : 0;
    for (int k = 0; rc > 0 && k < np; k++) {
        if (pfd[k].revents & POLLIN) {
            atomic_fetch_add(&jobs[who[k]].wakes, 1);
            t_job_step(&jobs[who[k]]);
            record_status(&jobs[who[k]]);
        }
    }
    free(pfd);
    free(who);
    (void)d;
    return 0;
}

void t_job_abandon(struct t_job *j)
{
    ASYNC_WAIT_CTX_free(j->wctx);
    j->wctx = NULL;
    j->abandoned = true;
    j->d->remaining--;
}

void t_driver_start(struct t_driver *d, struct t_job *jobs, int n)
{
    for (int i = 0; i < n; i++) {
        t_job_step(&jobs[i]);
        if (d->mode == T_FD)
            record_status(&jobs[i]);
    }
}

int t_driver_run(struct t_driver *d, struct t_job *jobs, int n, int timeout_ms)
{
    t_driver_start(d, jobs, n);
    return t_driver_loop(d, jobs, n, timeout_ms);
}

int t_driver_loop(struct t_driver *d, struct t_job *jobs, int n, int timeout_ms)
{
    long start = t_now_ms();

    while (d->remaining > 0) {
        if (t_now_ms() - start > timeout_ms)
            return -ETIMEDOUT;
        switch (d->mode) {
        case T_CORE:
            rc_core_run(d->core, 100);
            break;
        case T_CALLBACK: {
            struct t_job *ready;
            struct timespec until = rc_realtime_after_ms(100);

            pthread_mutex_lock(&d->lock);
            if (d->ready == NULL)
                pthread_cond_timedwait(&d->cond, &d->lock, &until);
            ready = d->ready;
            d->ready = NULL;
            pthread_mutex_unlock(&d->lock);
            while (ready != NULL) {
                struct t_job *next;

                /* Once unqueued, a wake-up may queue it again and rewrite next_ready. */
                pthread_mutex_lock(&d->lock);
                next = ready->next_ready;
                ready->queued = false;
                pthread_mutex_unlock(&d->lock);
                if (!ready->finished && !ready->abandoned)
                    t_job_step(ready);
                ready = next;
            }
            break;
        }
        case T_FD:
            drive_fd(d, jobs, n);
            break;
        }
    }
    return 0;
}

void t_driver_fini(struct t_driver *d, struct t_job *jobs, int n)
{
    for (int i = 0; i < n; i++) {
        ASYNC_WAIT_CTX_free(jobs[i].wctx);
        jobs[i].wctx = NULL;
    }
    if (d->core != NULL)
        rc_core_destroy(d->core);
    d->core = NULL;
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
}

/* ---- one call in one job ------------------------------------------------ */

struct fn_call {
    int (*fn)(void *arg);
    void *arg;
};

static int call_body(struct t_job *j)
{
    const struct fn_call *c = j->arg;

    return c->fn(c->arg);
}

int t_run_job(int mode, int (*fn)(void *arg), void *arg, int timeout_ms)
{
    struct fn_call call = { fn, arg };
    struct t_driver d;
    struct t_job job;
    int rc;

    if (mode == T_NO_JOB)
        return fn(arg);
    rc = t_driver_init(&d, (enum t_mode)mode, &job, 1, call_body, &call);
    if (rc != 0)
        return rc;
    rc = t_driver_run(&d, &job, 1, timeout_ms);
    if (rc == 0)
        rc = job.ret;
    t_driver_fini(&d, &job, 1);
    return rc;
}

const char *t_job_mode_name(int mode)
{
    return mode == T_NO_JOB ? "no job" : t_mode_names[mode];
}

/* ---- the ringcrypt provider --------------------------------------------- */

const char *t_build_dir(void)
{
    static char dir[4096];
    char exe[4096], probe[4200];
    ssize_t n;

    if (dir[0] != '\0')
        return dir;
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return ".";
    exe[n] = '\0';
    /* Tests live in $b/tests/, tools such as the bench in $b/. */
    snprintf(dir, sizeof(dir), "%s", dirname(exe));
    snprintf(probe, sizeof(probe), "%s/ringcrypt.so", dir);
    if (access(probe, F_OK) != 0)
        snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/..");
    return dir;
}

void *t_module_symbol(const char *name)
{
    char path[4200];
    void *module, *sym = NULL;

    snprintf(path, sizeof(path), "%s/ringcrypt.so", t_build_dir());
    /* The module is linked nodelete: the symbol outlives this handle. */
    module = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (module != NULL)
        sym = dlsym(module, name);
    if (sym == NULL)
        fprintf(stderr, "no %s in %s: %s\n", name, path,
                module != NULL ? dlerror() : "the module is not loaded");
    if (module != NULL)
        dlclose(module);
    return sym;
}

/* NULL when path is a directory, else why not. */
static const char *not_a_dir(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return strerror(errno);
    return S_ISDIR(st.st_mode) ? NULL : "not a directory";
}

const char *t_wycheproof_dir(void)
{
    static char dir[PATH_MAX];
    const char *env = getenv("RC_WYCHEPROOF_DIR"), *why;

    if (env != NULL && env[0] != '\0') {
        why = not_a_dir(env);
        if (why != NULL) {
            fprintf(stderr, "RC_WYCHEPROOF_DIR=%s: %s\n", env, why);
            return NULL;
        }
        snprintf(dir, sizeof(dir), "%s", env);
        return dir;
    }
    if (snprintf(dir, sizeof(dir), "%s/../../shared/wycheproof", t_build_dir()) >= (int)sizeof(dir))
        why = "path too long";
    else
        why = not_a_dir(dir);
    if (why != NULL) {
        fprintf(stderr,
                "no Wycheproof vectors at %s (../shared/wycheproof beside the checkout): %s;"
                " set RC_WYCHEPROOF_DIR to the directory that holds them\n",
                dir, why);
        return NULL;
    }
    return dir;
}

/* What t_provider_libctx loaded, so that t_provider_free can unload it. */
static struct {
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *prov;
} loaded[16];

/* A new library context with provider which alone, found in t_build_dir() if not built in. */
static OSSL_LIB_CTX *libctx_with(const char *which)
{
    OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *prov = NULL;
    size_t i;

    for (i = 0; i < sizeof(loaded) / sizeof(loaded[0]) && loaded[i].libctx != NULL; i++)
        ;
    if (libctx != NULL && i < sizeof(loaded) / sizeof(loaded[0])
        && OSSL_PROVIDER_set_default_search_path(libctx, t_build_dir()))
        prov = OSSL_PROVIDER_load(libctx, which);
    if (prov == NULL) {
        fprintf(stderr, "cannot load provider %s from %s\n", which, t_build_dir());
        t_print_errors("provider load");
        OSSL_LIB_CTX_free(libctx);
        return NULL;
    }
    loaded[i].libctx = libctx;
    loaded[i].prov = prov;
    return libctx;
}

OSSL_LIB_CTX *t_provider_libctx(void)
{
    const char *which = getenv("RC_TEST_PROVIDER");

    return libctx_with(which == NULL || which[0] == '\0' ? "ringcrypt" : which);
}

OSSL_LIB_CTX *t_reference_libctx(void)
{
    return libctx_with("default");
}

void t_provider_free(OSSL_LIB_CTX *libctx)
{
    for (size_t i = 0; libctx != NULL && i < sizeof(loaded) / sizeof(loaded[0]); i++) {
        if (loaded[i].libctx == libctx) {
            OSSL_PROVIDER_unload(loaded[i].prov);
            loaded[i].libctx = NULL;
            loaded[i].prov = NULL;
        }
    }
    OSSL_LIB_CTX_free(libctx);
}

void t_print_errors(const char *what)
{
    unsigned long e;
    char buf[256];

    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, "  %s: %s\n", what, buf);
    }
}

/*
 * Whether error e is the runtime's own. The module's library is "ringcrypt";
 * of its reasons, only a tag mismatch (which it raises where the default
 * provider fails without a word) is the cryptography saying no.
 */
static bool runtime_error(unsigned long e)
{
    const char *lib = ERR_lib_error_string(e), *reason = ERR_reason_error_string(e);

    return lib != NULL && strcmp(lib, "ringcrypt") == 0
           && (reason == NULL || strcmp(reason, "authentication tag mismatch") != 0);
}

bool t_drain_errors(bool print)
{
    const char *file, *func, *data;
    int line, flags;
    unsigned long e;
    bool runtime = false;
    char buf[256];

    while ((e = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
        bool ours = runtime_error(e);

        runtime |= ours;
        if (!print && !ours)
            continue;
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, "    %s%s%s\n", buf, (flags & ERR_TXT_STRING) ? ": " : "",
                (flags & ERR_TXT_STRING) ? data : "");
    }
    return runtime;
}

int t_pop_errors(const char *what, const char *lib, const char *reason, bool *matched)
{
    unsigned long e;
    int n = 0;

    if (matched != NULL)
        *matched = false;
    while ((e = ERR_get_error()) != 0) {
        const char *l = ERR_lib_error_string(e), *r = ERR_reason_error_string(e);
        char buf[256];

        n++;
        if (what != NULL) {
            ERR_error_string_n(e, buf, sizeof(buf));
            fprintf(stderr, "    %s: %s\n", what, buf);
        }
        if (matched != NULL && l != NULL && r != NULL && strcmp(l, lib) == 0
            && strstr(r, reason) != NULL)
            *matched = true;
    }
    return n;
}

bool t_provider_is_ours(void)
{
    const char *which = getenv("RC_TEST_PROVIDER");

    return which == NULL || which[0] == '\0' || strcmp(which, "ringcrypt") == 0;
}

/* ---- accounting --------------------------------------------------------- */

int t_count_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (dir == NULL)
        return -1;
    while ((e = readdir(dir)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(dir);
    return n - 1; /* the directory's own fd */
}

void t_stats_since(const struct rc_stats *before, struct rc_stats *delta)
{
    const uint64_t *b = (const uint64_t *)before;
    uint64_t *d = (uint64_t *)delta;

    rc_stats_total(delta);
    for (size_t i = 0; i < sizeof(*delta) / sizeof(uint64_t); i++)
        d[i] -= b[i];
}

int t_main_afalg(int argc, char **argv, const struct scenario *scenarios)
{
    int fd = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        perror("socket(AF_ALG): this test runs only where the kernel has AF_ALG (tools/vm)");
        return T_FAIL;
    }
    close(fd);
    return t_main(argc, argv, scenarios);
}
