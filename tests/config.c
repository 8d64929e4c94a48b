/*
 * Configuration errors are start-up errors: a mistyped variable, an unknown
 * value or a number out of range makes rc_init fail with -EINVAL and a
 * sentence naming the variable, and every entry point that would start the
 * runtime fails the same way instead of running on defaults. Valid settings,
 * from the environment or rc_config_set, are what the runtime then runs with;
 * the environment wins; rc_config_set only works while the runtime is stopped.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"

static _Atomic int released, ran;

/* Whether msg names var as a whole word: RINGCRYPT_WORKER must not match RINGCRYPT_WORKERS. */
static bool names(const char *msg, const char *var)
{
    size_t len = strlen(var);

    for (const char *p = msg; (p = strstr(p, var)) != NULL; p++) {
        char after = p[len];

        if (!(isalnum((unsigned char)after) || after == '_'))
            return true;
    }
    return false;
}

static struct rc_req *counted_req(long in)
{
    struct rc_req *req = t_req(t_work_compute, in, 0, &released);

    if (req != NULL)
        ((struct t_work *)rc_req_ctx(req))->ran = &ran;
    return req;
}

static int offload_body(struct t_job *j)
{
    struct rc_req *req = counted_req(j->index);
    int rc;

    if (req == NULL)
        return -ENOMEM;
    rc = rc_offload(req);
    if (rc == 0 && ((struct t_work *)rc_req_ctx(req))->out != j->index * 3 + 1)
        rc = -EPROTO;
    rc_req_free(req);
    return rc;
}

/* Runs n jobs in mode and returns how many ended with expect. */
static int run_jobs(enum t_mode mode, int n, int expect, struct rc_stats *delta)
{
    struct t_job jobs[16];
    struct t_driver d;
    struct rc_stats before;
    int rc, matched = 0;

    rc_stats_total(&before);
    rc = t_driver_init(&d, mode, jobs, n, offload_body, NULL);
    CHECK_EQ(rc, 0);
    if (rc == 0) {
        CHECK_EQ(t_driver_run(&d, jobs, n, 20000), 0);
        for (int i = 0; i < n; i++)
            matched += jobs[i].finished && jobs[i].ret == expect;
    }
    t_driver_fini(&d, jobs, n);
    t_stats_since(&before, delta);
    return matched;
}

/*
 * entry is the one RINGCRYPT_* setting of the scenario; reason a word the
 * message must carry so that a user knows what to fix.
 */
static int expect_invalid(const char *entry, const char *reason)
{
    const char *eq = strchr(entry, '=');
    char var[64], msg[512];
    /* Not NULL, so that a refused create is seen to clear it. */
    struct rc_core *core = (struct rc_core *)&core;
    struct rc_info info;
    struct rc_req *req;
    struct rc_stats s;

    snprintf(var, sizeof(var), "%.*s", (int)(eq - entry), entry);
    CHECK_EQ(rc_init(), -EINVAL);
    snprintf(msg, sizeof(msg), "%s", rc_last_error() != NULL ? rc_last_error() : "");
    CHECK(names(msg, var), "rc_last_error() \"%s\" does not name %s", msg, var);
    CHECK(strstr(msg, reason) != NULL, "rc_last_error() \"%s\" does not say \"%s\"", msg, reason);
    /* The rejected value, except for an unknown variable, whose value is beside the point. */
    if (eq[1] != '\0' && strcmp(reason, "unknown") != 0)
        CHECK(strstr(msg, eq + 1) != NULL, "rc_last_error() \"%s\" does not quote %s", msg, eq + 1);

    /* A second call must not start on defaults after the first refused. */
    CHECK_EQ(rc_init(), -EINVAL);
    CHECK_EQ(rc_info(&info), -EINVAL);
    CHECK_EQ(rc_core_create(NULL, &core), -EINVAL);
    CHECK(core == NULL, "a failed rc_core_create left *out set");
    CHECK(rc_core_current() == NULL, "a failed rc_core_create installed a core");

    /* Outside a job: refused, and the work never ran, not even inline. */
    req = counted_req(5);
    CHECK(req != NULL, "rc_req_new failed");
    if (req != NULL) {
        CHECK_EQ(rc_offload(req), -EINVAL);
        CHECK_EQ(((struct t_work *)rc_req_ctx(req))->out, 0);
        rc_req_free(req);
    }
    /* Inside a job, without a core: refused at once, the job never pauses. */
    CHECK_EQ(run_jobs(T_CALLBACK, 4, -EINVAL, &s), 4);
    CHECK_EQ(s.paused, 0);
    CHECK_EQ(s.submitted, 0);
    CHECK_EQ(s.inline_ops, 0);
    CHECK_EQ(atomic_load(&ran), 0);
    CHECK_EQ(atomic_load(&released), 5);
    return T_PASS;
}

#define INVALID(fn, entry, reason)                                           \
    static const char *const fn##_env[] = { entry, NULL };                   \
    static int fn(void) { return expect_invalid(entry, reason); }

INVALID(workers_zero, "RINGCRYPT_WORKERS=0", "range")
INVALID(workers_abc, "RINGCRYPT_WORKERS=abc", "number")
INVALID(workers_257, "RINGCRYPT_WORKERS=257", "range")
INVALID(workers_negative, "RINGCRYPT_WORKERS=-1", "number")
INVALID(workers_trailing, "RINGCRYPT_WORKERS=3x", "number")
INVALID(workers_space, "RINGCRYPT_WORKERS= 3", "number")
INVALID(workers_empty, "RINGCRYPT_WORKERS=", "number")
INVALID(timeout_zero, "RINGCRYPT_TIMEOUT_MS=0", "range")
/* Wider than 64 bits: must not wrap around into range. */
INVALID(timeout_huge, "RINGCRYPT_TIMEOUT_MS=18446744073709551617", "range")
INVALID(inflight_65537, "RINGCRYPT_MAX_INFLIGHT=65537", "range")
INVALID(inflight_zero, "RINGCRYPT_MAX_INFLIGHT=0", "range")
INVALID(backend_qat, "RINGCRYPT_BACKEND=qat", "afalg")
INVALID(backend_empty, "RINGCRYPT_BACKEND=", "inline")
INVALID(eventfd_yes, "RINGCRYPT_FORCE_EVENTFD=yes", "one of")
INVALID(typo_worker, "RINGCRYPT_WORKER=2", "unknown")
INVALID(stats_empty, "RINGCRYPT_STATS=", "empty")

/* One bad setting among good ones is enough, and the message blames that one. */
static int one_bad_among_good(void)
{
    CHECK_EQ(rc_init(), -EINVAL);
    CHECK(names(rc_last_error(), "RINGCRYPT_TIMEOUT_MS"), "\"%s\"", rc_last_error());
    CHECK(!names(rc_last_error(), "RINGCRYPT_WORKERS"), "\"%s\"", rc_last_error());
    return T_PASS;
}

static _Atomic int running, peak;

/* Counts how many run at once, then waits for the gate. */
static int work_concurrent(void *ctx)
{
    int now = atomic_fetch_add(&running, 1) + 1;
    int seen = atomic_load(&peak);
    int rc;

    while (now > seen && !atomic_compare_exchange_weak(&peak, &seen, now))
        ;
    rc = t_work_blocked(ctx);
    atomic_fetch_sub(&running, 1);
    return rc;
}

static int concurrent_body(struct t_job *j)
{
    struct rc_req *req = t_req(work_concurrent, j->index, 0, &released);
    int rc;

    if (req == NULL)
        return -ENOMEM;
    rc = rc_offload(req);
    rc_req_free(req);
    return rc;
}

/* Opens the gate once the expected number of requests are held there, or after 20 s. */
static void *gate_keeper(void *arg)
{
    t_gate_wait_held(*(int *)arg);
    /* Give a fourth worker, if there were one, the time to show up. */
    usleep(50000);
    t_gate_open();
    return NULL;
}

/*
 * The number reached the backend, not just rc_info: with twice as many
 * blocked requests as workers, exactly `workers` of them run at once.
 */
static int workers_run_concurrently(void)
{
    struct t_job jobs[6];
    struct t_driver d;
    struct rc_info info;
    pthread_t keeper;
    int expect = 3;

    CHECK_EQ(rc_info(&info), 0);
    CHECK_EQ(info.workers, 3);
    t_gate_close();
    CHECK_EQ(t_driver_init(&d, T_CALLBACK, jobs, 6, concurrent_body, NULL), 0);
    pthread_create(&keeper, NULL, gate_keeper, &expect);
    CHECK_EQ(t_driver_run(&d, jobs, 6, 20000), 0);
    pthread_join(keeper, NULL);
    for (int i = 0; i < 6; i++)
        CHECK_EQ(jobs[i].ret, 0);
    t_driver_fini(&d, jobs, 6);
    CHECK_EQ(atomic_load(&peak), 3);
    return T_PASS;
}

static int valid_env(void)
{
    struct rc_info info;
    struct rc_stats s;

    CHECK_EQ(rc_init(), 0);
    CHECK_EQ(rc_init(), 0);
    CHECK_EQ(rc_info(&info), 0);
    CHECK(strcmp(info.backend, "worker") == 0, "backend %s", info.backend);
    CHECK(strcmp(info.transport, "eventfd") == 0, "transport %s", info.transport);
    CHECK(info.ring_flags != NULL && info.ring_flags[0] != '\0', "no ring flags");
    CHECK_EQ(info.workers, 3);
    CHECK_EQ(info.timeout_ms, 250);
    CHECK_EQ(info.max_inflight, 7);

    /* All 8 jobs start before any answer is reaped, so exactly one meets the limit of 7. */
    CHECK_EQ(run_jobs(T_CORE, 8, 0, &s), 8);
    CHECK_EQ(s.submitted, 8);
    CHECK_EQ(s.eagain, 1);
    return T_PASS;
}

static int inline_env(void)
{
    struct rc_info info;
    struct rc_stats s;

    CHECK_EQ(rc_info(&info), 0);
    CHECK(strcmp(info.backend, "inline") == 0, "backend %s", info.backend);
    CHECK(strcmp(info.transport, "none") == 0, "transport %s", info.transport);
    CHECK_EQ(info.workers, 0);
    CHECK_EQ(run_jobs(T_CORE, 4, 0, &s), 4);
    CHECK_EQ(s.inline_ops, 4);
    CHECK_EQ(s.submitted, 0);
    return T_PASS;
}

/* The largest values accepted are usable, not just accepted. */
static int upper_bounds(void)
{
    struct rc_info info;
    struct rc_stats s;

    CHECK_EQ(rc_info(&info), 0);
    CHECK_EQ(info.timeout_ms, 3600000);
    CHECK_EQ(info.max_inflight, 65536);
    CHECK_EQ(info.workers, 1);
    CHECK_EQ(run_jobs(T_CORE, 4, 0, &s), 4);
    CHECK_EQ(s.submitted, 4);
    return T_PASS;
}

static int config_set_errors(void)
{
    struct rc_info info;

    CHECK_EQ(rc_config_set("wrokers", "2"), -EINVAL);
    CHECK(names(rc_last_error(), "wrokers"), "\"%s\"", rc_last_error());
    /* The keys it could have meant, from the table that reads them, not a copy. */
    CHECK(strstr(rc_last_error(), "(known: backend workers timeout_ms max_inflight "
                                  "min_offload_bytes spin_us kernel_sockets force_eventfd placement stats)"),
          "\"%s\"", rc_last_error());
    /* Keys are the short names; the variable's name is not a key. */
    CHECK_EQ(rc_config_set("RINGCRYPT_WORKERS", "2"), -EINVAL);
    CHECK_EQ(rc_config_set("workers", "0"), -EINVAL);
    CHECK(names(rc_last_error(), "workers"), "\"%s\"", rc_last_error());
    CHECK_EQ(rc_config_set("workers", "two"), -EINVAL);
    CHECK_EQ(rc_config_set("max_inflight", "65537"), -EINVAL);
    CHECK_EQ(rc_config_set("backend", "qat"), -EINVAL);
    CHECK_EQ(rc_config_set("kernel_sockets", "1"), -EINVAL);
    CHECK_EQ(rc_config_set("force_eventfd", "true"), -EINVAL);
    CHECK_EQ(rc_config_set("stats", ""), -EINVAL);

    /* rc_last_error explains the last -EINVAL, whatever made it, not an earlier one. */
    CHECK_EQ(rc_config_set("workers", "2"), 0);
    CHECK_EQ(rc_config_set(NULL, "2"), -EINVAL);
    CHECK(!names(rc_last_error(), "stats"),
          "rc_config_set(NULL, \"2\") left the previous reason: \"%s\"", rc_last_error());
    CHECK_EQ(rc_config_set("workers", NULL), -EINVAL);
    CHECK(names(rc_last_error(), "workers"),
          "rc_config_set(\"workers\", NULL): \"%s\"", rc_last_error());

    /* A refused value leaves the one set before it in place. */
    CHECK_EQ(rc_config_set("workers", "300"), -EINVAL);
    CHECK_EQ(rc_info(&info), 0);
    CHECK_EQ(info.workers, 2);
    return T_PASS;
}

static int config_set_applies(void)
{
    struct rc_info info;
    struct rc_stats s;

    CHECK_EQ(rc_config_set("backend", "worker"), 0);
    CHECK_EQ(rc_config_set("workers", "2"), 0);
    CHECK_EQ(rc_config_set("timeout_ms", "300"), 0);
    CHECK_EQ(rc_config_set("max_inflight", "5"), 0);
    CHECK_EQ(rc_config_set("force_eventfd", "1"), 0);
    CHECK_EQ(rc_config_set("kernel_sockets", "9"), 0);
    CHECK_EQ(rc_init(), 0);
    CHECK_EQ(rc_info(&info), 0);
    CHECK(strcmp(info.backend, "worker") == 0, "backend %s", info.backend);
    CHECK(strcmp(info.transport, "eventfd") == 0, "transport %s", info.transport);
    CHECK_EQ(info.workers, 2);
    CHECK_EQ(info.timeout_ms, 300);
    CHECK_EQ(info.max_inflight, 5);
    CHECK_EQ(info.kernel_sockets, 9);
    CHECK_EQ(run_jobs(T_CORE, 6, 0, &s), 6);
    CHECK_EQ(s.eagain, 1);
    return T_PASS;
}

/* Running: -EBUSY and no effect; stopped: the next start takes the new value. */
static int config_set_busy_then_restart(void)
{
    struct rc_info info;
    struct rc_stats s;

    CHECK_EQ(rc_config_set("workers", "2"), 0);
    CHECK_EQ(rc_init(), 0);
    CHECK_EQ(rc_config_set("workers", "3"), -EBUSY);
    CHECK_EQ(rc_config_set("timeout_ms", "100"), -EBUSY);
    CHECK_EQ(rc_info(&info), 0);
    CHECK_EQ(info.workers, 2);
    CHECK(info.timeout_ms != 100, "a value set while running took effect");
    CHECK_EQ(run_jobs(T_CORE, 2, 0, &s), 2);

    rc_shutdown();
    CHECK_EQ(rc_config_set("workers", "3"), 0);
    CHECK_EQ(rc_config_set("max_inflight", "9"), 0);
    CHECK_EQ(rc_init(), 0);
    CHECK_EQ(rc_info(&info), 0);
    CHECK_EQ(info.workers, 3);
    CHECK_EQ(info.max_inflight, 9);
    CHECK_EQ(info.timeout_ms, 5000);
    CHECK_EQ(rc_config_set("workers", "4"), -EBUSY);
    /* The restarted runtime works, in every mode. */
    CHECK_EQ(run_jobs(T_CORE, 4, 0, &s), 4);
    CHECK_EQ(run_jobs(T_CALLBACK, 4, 0, &s), 4);
    CHECK_EQ(run_jobs(T_FD, 4, 0, &s), 4);

    /* rc_info alone restarts a stopped runtime, with what is set by then. */
    rc_shutdown();
    CHECK_EQ(rc_config_set("workers", "1"), 0);
    CHECK_EQ(rc_info(&info), 0);
    CHECK_EQ(info.workers, 1);
    return T_PASS;
}

/* After a good run, a bad setting refuses the restart rather than reusing the old values. */
static int restart_with_bad_env(void)
{
    struct rc_core *core;
    struct rc_info info;
    struct rc_stats s;

    CHECK_EQ(rc_init(), 0);
    CHECK_EQ(run_jobs(T_CORE, 2, 0, &s), 2);
    rc_shutdown();
    setenv("RINGCRYPT_WORKERS", "abc", 1);
    CHECK_EQ(rc_init(), -EINVAL);
    CHECK(names(rc_last_error(), "RINGCRYPT_WORKERS"), "\"%s\"", rc_last_error());
    CHECK_EQ(rc_info(&info), -EINVAL);
    CHECK_EQ(rc_core_create(NULL, &core), -EINVAL);
    CHECK_EQ(run_jobs(T_CALLBACK, 2, -EINVAL, &s), 2);
    CHECK_EQ(s.submitted, 0);

    unsetenv("RINGCRYPT_WORKERS");
    CHECK_EQ(rc_init(), 0);
    CHECK_EQ(run_jobs(T_CORE, 2, 0, &s), 2);
    return T_PASS;
}

/* Set in the environment, a variable beats rc_config_set; unset keys still take the call's value. */
static int env_wins(void)
{
    struct rc_info info;

    CHECK_EQ(rc_config_set("workers", "2"), 0);
    CHECK_EQ(rc_config_set("max_inflight", "11"), 0);
    CHECK_EQ(rc_config_set("timeout_ms", "333"), 0);
    CHECK_EQ(rc_info(&info), 0);
    CHECK_EQ(info.workers, 3);
    CHECK_EQ(info.max_inflight, 40);
    CHECK_EQ(info.timeout_ms, 333);
    return T_PASS;
}

/* An invalid environment still loses nothing to rc_config_set: the start fails. */
static int env_invalid_despite_config_set(void)
{
    CHECK_EQ(rc_config_set("workers", "2"), 0);
    CHECK_EQ(rc_init(), -EINVAL);
    CHECK(names(rc_last_error(), "RINGCRYPT_WORKERS"), "\"%s\"", rc_last_error());
    return T_PASS;
}

static const char *const mixed_env[] = {
    "RINGCRYPT_WORKERS=3", "RINGCRYPT_TIMEOUT_MS=0", "RINGCRYPT_MAX_INFLIGHT=7", NULL,
};
static const char *const good_env[] = {
    "RINGCRYPT_WORKERS=3", "RINGCRYPT_TIMEOUT_MS=250", "RINGCRYPT_MAX_INFLIGHT=7",
    "RINGCRYPT_BACKEND=worker", "RINGCRYPT_FORCE_EVENTFD=1", NULL,
};
static const char *const inline_vars[] = { "RINGCRYPT_BACKEND=inline", NULL };
static const char *const bounds_env[] = {
    "RINGCRYPT_WORKERS=1", "RINGCRYPT_TIMEOUT_MS=3600000", "RINGCRYPT_MAX_INFLIGHT=65536",
    "RINGCRYPT_BACKEND=auto", "RINGCRYPT_FORCE_EVENTFD=0", NULL,
};
static const char *const env_over_set[] = {
    "RINGCRYPT_WORKERS=3", "RINGCRYPT_MAX_INFLIGHT=40", NULL,
};
static const char *const three_workers[] = { "RINGCRYPT_WORKERS=3", NULL };
static const char *const bad_workers[] = { "RINGCRYPT_WORKERS=abc", NULL };

#define BAD(fn) { #fn, fn, fn##_env }

/*
 * Workers that cannot start (no descriptors left for their rings): a clear
 * start-up error, no thread or descriptor left behind, whether the first or a
 * later worker fails; with the limit lifted the next start works.
 */
static int workers_cannot_start(void)
{
    struct rlimit old, tight;
    struct rc_info info;
    int fds = t_count_fds();

    CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    /* Room for none, then for some: each worker takes a ring and an eventfd. */
    for (rlim_t room = 0; room <= 6; room += 3) {
        tight = old;
        tight.rlim_cur = (rlim_t)fds + room;
        CHECK_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
        CHECK_EQ(rc_init(), -EMFILE);
        CHECK(strstr(rc_last_error(), "cannot start 8 workers") != NULL, "message: %s",
              rc_last_error());
        CHECK_EQ(t_count_fds(), fds);
        CHECK_EQ(rc_info(&info), -EMFILE);
    }
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    CHECK_EQ(rc_init(), 0);
    CHECK_EQ(rc_info(&info), 0);
    CHECK_EQ(info.workers, 8);
    return T_PASS;
}

static const char *const eight_workers[] = { "RINGCRYPT_WORKERS=8", NULL };

static const struct scenario scenarios[] = {
    BAD(workers_zero),
    BAD(workers_abc),
    BAD(workers_257),
    BAD(workers_negative),
    BAD(workers_trailing),
    BAD(workers_space),
    BAD(workers_empty),
    BAD(timeout_zero),
    BAD(timeout_huge),
    BAD(inflight_65537),
    BAD(inflight_zero),
    BAD(backend_qat),
    BAD(backend_empty),
    BAD(eventfd_yes),
    BAD(typo_worker),
    BAD(stats_empty),
    { "one_bad_among_good", one_bad_among_good, mixed_env },
    { "valid_env", valid_env, good_env },
    { "workers_run_concurrently", workers_run_concurrently, three_workers },
    { "inline_env", inline_env, inline_vars },
    { "upper_bounds", upper_bounds, bounds_env },
    { "config_set_errors", config_set_errors, NULL },
    { "config_set_applies", config_set_applies, NULL },
    { "config_set_busy_then_restart", config_set_busy_then_restart, NULL },
    { "restart_with_bad_env", restart_with_bad_env, NULL },
    { "env_wins", env_wins, env_over_set },
    { "env_invalid_despite_config_set", env_invalid_despite_config_set, bad_workers },
    { "workers_cannot_start", workers_cannot_start, eight_workers },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
