/*
 * Shared by every test binary: assertions, scenarios run in fresh processes
 * (the runtime's configuration is process-wide), ASYNC job drivers for the
 * three completion modes, and work functions to offload.
 * Exit codes follow liburing's tests: 0 pass, 1 fail, 77 skip.
 */
#ifndef RC_TEST_HARNESS_H
#define RC_TEST_HARNESS_H

#include <openssl/async.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "ringcrypt.h"

#define T_PASS 0
#define T_FAIL 1
#define T_SKIP 77

extern int t_failures;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fprintf(stderr, "\n");                                            \
            t_failures++;                                                     \
        }                                                                     \
    } while (0)

#define CHECK_EQ(a, b)                                                        \
    do {                                                                      \
        long long _a = (long long)(a), _b = (long long)(b);                   \
        CHECK(_a == _b, "%s = %lld, expected %lld", #a, _a, _b);              \
    } while (0)

/* A scenario runs in its own process, started with env (NULL-terminated "K=V"). */
struct scenario {
    const char *name;
    int (*run)(void);
    const char *const *env;
};

/*
 * With no arguments, runs every scenario in a fresh copy of this program and
 * returns the combined exit code; with a scenario's name, runs just that one.
 */
int t_main(int argc, char **argv, const struct scenario *scenarios);

/*
 * The index of the scenario named name, or -1: for a test whose scenarios
 * share one run function, to find the case it runs.
 */
int t_scenario_index(const struct scenario *scenarios, const char *name);

/*
 * t_main for the AF_ALG suite (build/vm-tests/), which runs only where the
 * kernel has AF_ALG (the VM of tools/vm): without it, a failure, not a skip.
 */
int t_main_afalg(int argc, char **argv, const struct scenario *scenarios);

/*
 * t_main for the post-quantum suites: where the running release's default
 * provider has no ML-KEM (before OpenSSL 3.5), or the suite was built with
 * older headers and so without scenarios, says so in one line and skips.
 */
int t_main_pq(int argc, char **argv, const struct scenario *scenarios);

/* ---- work to offload ---------------------------------------------------- */

/* The context of every test request. */
struct t_work {
    long in, out;
    int result;             /* what the work function returns */
    unsigned int delay_us;  /* how long it takes */
    _Atomic int *released;  /* counts release callbacks */
    _Atomic int *ran;       /* counts executions */
};

/* out = in * 3 + 1 after delay_us, then returns result. */
int t_work_compute(void *ctx);
/* Blocks until t_gate_open(), then like t_work_compute. */
int t_work_blocked(void *ctx);
void t_work_release(void *ctx);

void t_gate_close(void);
void t_gate_open(void);
/*
 * Waits (up to 20 s) until n calls of t_work_blocked are held at the closed
 * gate: the backend has taken their requests. Returns how many are held.
 */
int t_gate_wait_held(int n);

/* A request for t_work_compute (or fn) with in, released counted in *released. */
struct rc_req *t_req(int (*fn)(void *), long in, int result, _Atomic int *released);

/* One offload, checked: what to run and where to count. */
struct t_offload_args {
    int (*fn)(void *);
    long in;
    int result;
    unsigned int delay_us;
    _Atomic int *released;
    _Atomic int *ran;
};

/*
 * Offloads a t_work request and frees it: rc_offload's result, -EPROTO if it
 * succeeded with a wrong answer, -ENOMEM if no request could be made.
 */
int t_offload(const struct t_offload_args *a);

long t_now_ms(void);

/*
 * Waits (running core, if any) until *released reaches want: the thread that
 * completes a request drops its reference after waking the job, so a job can
 * finish before the last counters move. Returns *released.
 */
int t_wait_released(_Atomic int *released, int want, struct rc_core *core);

/* ---- ASYNC jobs and their drivers -------------------------------------- */

enum t_mode { T_CORE, T_CALLBACK, T_FD };

extern const char *const t_mode_names[];

struct t_driver;

struct t_job {
    ASYNC_JOB *job;
    ASYNC_WAIT_CTX *wctx;
    int (*body)(struct t_job *j);
    void *arg;
    int ret;                 /* body's return value */
    bool finished;
    bool abandoned;          /* its wait ctx was freed while it was paused: never resume it */
    bool queued;             /* on the run queue / ready list */
    struct rc_task task;
    struct t_job *next_ready;
    struct t_driver *d;
    int index;
    /* Statuses seen at wake-ups (callback) or after each start (fd). */
    _Atomic int seen_ok, seen_eagain, seen_err;
    _Atomic int wakes;
};

struct t_driver {
    enum t_mode mode;
    struct rc_core *core;    /* T_CORE */
    pthread_mutex_t lock;    /* T_CALLBACK */
    pthread_cond_t cond;
    struct t_job *ready;
    int remaining;
};

/* Sets up n jobs running body in mode; T_CORE creates a core on this thread. */
int t_driver_init(struct t_driver *d, enum t_mode mode, struct t_job *jobs, int n,
                  int (*body)(struct t_job *), void *arg);
/* The same, with the core created with opts. */
int t_driver_init_opts(struct t_driver *d, enum t_mode mode, const struct rc_core_opts *opts,
                       struct t_job *jobs, int n, int (*body)(struct t_job *), void *arg);
/* Starts every job: each runs until it pauses or finishes. */
void t_driver_start(struct t_driver *d, struct t_job *jobs, int n);
/* Starts every job and drives them until all finished or timeout_ms passed. 0 or -ETIMEDOUT. */
int t_driver_run(struct t_driver *d, struct t_job *jobs, int n, int timeout_ms);
/* Drives jobs already started (t_job_step) until all finished or abandoned. */
int t_driver_loop(struct t_driver *d, struct t_job *jobs, int n, int timeout_ms);
/* Frees j's wait ctx while its job is paused, as SSL_free does. */
void t_job_abandon(struct t_job *j);
/* Frees the wait ctxs (jobs must be finished, or deliberately abandoned) and the core. */
void t_driver_fini(struct t_driver *d, struct t_job *jobs, int n);

/* Starts or resumes one job once; returns the ASYNC_start_job result. */
int t_job_step(struct t_job *j);

/*
 * Runs fn(arg) once: in one ASYNC job driven in mode (T_CORE, T_CALLBACK,
 * T_FD), or directly when mode is T_NO_JOB. Returns fn's result, or -ETIMEDOUT
 * if the job did not finish within timeout_ms.
 */
#define T_NO_JOB (-1)
int t_run_job(int mode, int (*fn)(void *arg), void *arg, int timeout_ms);

/* "no job" or the mode's name. */
const char *t_job_mode_name(int mode);

/* ---- the ringcrypt provider ------------------------------------------- */

/* The build directory this test belongs to (it holds ringcrypt.so). */
const char *t_build_dir(void);

/*
 * A new library context in which only the ringcrypt provider is loaded, from
 * t_build_dir(). With RC_TEST_PROVIDER=default the default provider is loaded
 * instead, to check a test itself against the reference. NULL on failure
 * (OpenSSL's errors printed).
 */
OSSL_LIB_CTX *t_provider_libctx(void);

/*
 * A new library context with OpenSSL's default provider alone: the reference
 * of the release the test runs on, where OpenSSL's own answers changed between
 * releases. NULL on failure (errors printed).
 */
OSSL_LIB_CTX *t_reference_libctx(void);

/*
 * A symbol of ringcrypt.so from t_build_dir() (one of its test hooks), once a
 * provider loaded it; NULL with the reason on stderr.
 */
void *t_module_symbol(const char *name);

/* Unloads the provider (of either) and frees the context. */
void t_provider_free(OSSL_LIB_CTX *libctx);

/*
 * The directory of the Wycheproof vectors: RC_WYCHEPROOF_DIR when set, else
 * ../shared/wycheproof beside the checkout (t_build_dir()/../../shared/wycheproof).
 * NULL, with the reason and the remedy printed, when there is no such directory.
 */
const char *t_wycheproof_dir(void);

/* Prints and clears this thread's OpenSSL error queue (after a failure). */
void t_print_errors(const char *what);

/*
 * Empties this thread's error queue; true if the runtime raised anything
 * (ringcrypt's library, save a tag mismatch, which is the cryptography saying
 * no). Prints the runtime's errors, and with print every error.
 */
bool t_drain_errors(bool print);

/*
 * Empties this thread's error queue: how many errors it held, and in *matched
 * (when not NULL) whether one was of library lib with reason containing
 * reason. With what, prints each as "what: error".
 */
int t_pop_errors(const char *what, const char *lib, const char *reason, bool *matched);

/* Whether t_provider_libctx loads ringcrypt (RC_TEST_PROVIDER unset or "ringcrypt"). */
bool t_provider_is_ours(void);

/* Open file descriptors of this process. */
int t_count_fds(void);

/* Totals minus a snapshot taken earlier. */
void t_stats_since(const struct rc_stats *before, struct rc_stats *delta);

#endif
