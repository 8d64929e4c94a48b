/*
 * ringcrypt-bench: what an offload costs the core thread, measured beside the
 * inline baseline in the same run.
 *
 *   ringcrypt-bench --op null|spin [--spin-us N] [--jobs 1,8,64] [--duration S]
 *                   [--repeat N] [--workers N] [--json]
 *   ringcrypt-bench --alg rsa2048|ecdsap256|x25519|mldsa65|mlkem768|aes128gcm-16k|...
 *                   [--op encaps|decaps|keygen] [--jobs 1,8,64] [--duration S]
 *                   [--repeat N] [--json]
 *
 * For each transport (MSG_RING, the eventfd fallback) and for inline, and for
 * each number of concurrent ASYNC jobs on one core, runs jobs that offload a
 * request — doing nothing (null), or a fixed amount of arithmetic that takes
 * about --spin-us inline (spin, a stand-in for a private-key operation) — for
 * a fixed time after a warm-up, and reports ops/s
 * and the core thread's CPU time per op (CLOCK_THREAD_CPUTIME_ID: the jobs run
 * on that thread, so their fibre switches are included). Each point is the
 * median of --repeat runs: on a small shared machine single runs scatter.
 *
 * --alg measures real crypto through the ringcrypt provider, N concurrent jobs
 * on one core in core mode with the runtime's default configuration, beside
 * the default provider called directly on one thread (the inline baseline)
 * and the ringcrypt provider called without a job (its synchronous path).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_alg.h"
#include "cli.h"
#include "harness.h"

struct measurement {
    const char *transport;
    int jobs;
    double ops_per_s;
    double core_ns_per_op;
    unsigned long long ops;
    double seconds;
};

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct run {
    uint64_t until_ns;
    unsigned long long ops;
    int errors;
    struct bench_state **states; /* --alg: one per job */
};

static int null_work(void *ctx)
{
    (void)ctx;
    return 0;
}

/* Iterations of spin_work per request, calibrated at start-up. */
static unsigned long spin_iterations;

static int spin_work(void *ctx)
{
    volatile uint64_t sink;
    uint64_t x = 88172645463325252u;

    (void)ctx;
    for (unsigned long i = 0; i < spin_iterations; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    sink = x;
    (void)sink;
    return 0;
}

static void calibrate_spin(unsigned int us)
{
    uint64_t t0;

    spin_iterations = 1000000;
    t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    spin_work(NULL);
    spin_iterations = (unsigned long)((double)us * 1000.0 * 1000000.0 /
                                      (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0));
}

static int (*work)(void *) = null_work;

static int body(struct t_job *j)
{
    struct run *r = j->arg;

    /* The coarse clock costs a few ns: the loop's own overhead stays out of the figures. */
    while (clock_ns(CLOCK_MONOTONIC_COARSE) < r->until_ns) {
        struct rc_req *req;

        r->ops++;
        if (r->states != NULL) {
            r->errors += !bench_op(r->states[j->index]);
            continue;
        }
        req = rc_req_new(work, 0, NULL);
        if (req == NULL || rc_offload(req) != 0)
            r->errors++;
        rc_req_free(req);
    }
    return 0;
}

/* --alg: the keys every job's state is made from (NULL: --op). */
static struct bench_keys *alg_keys;

static int measure(int jobs, double seconds, const char *transport, struct measurement *m)
{
    struct t_job *js = calloc((size_t)jobs, sizeof(*js));
    struct t_driver d;
    struct run r = { 0 };
    uint64_t wall0, cpu0;
    int rc;

    if (js == NULL)
        return -ENOMEM;
    rc = t_driver_init(&d, T_CORE, js, jobs, body, &r);
    if (rc != 0)
        goto out;
    if (alg_keys != NULL) {
        rc = -ENOMEM;
        r.states = calloc((size_t)jobs, sizeof(*r.states));
        for (int i = 0; r.states != NULL && i < jobs; i++)
            if ((r.states[i] = bench_state_new(alg_keys)) == NULL)
                goto out;
        if (r.states == NULL)
            goto out;
    }
    wall0 = clock_ns(CLOCK_MONOTONIC);
    cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    r.until_ns = clock_ns(CLOCK_MONOTONIC_COARSE) + (uint64_t)(seconds * 1e9);
    rc = t_driver_run(&d, js, jobs, (int)(seconds * 1000) + 30000);
    m->seconds = (double)(clock_ns(CLOCK_MONOTONIC) - wall0) / 1e9;
    m->core_ns_per_op = r.ops ? (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0) / (double)r.ops : 0;
    m->ops = r.ops;
    m->ops_per_s = (double)r.ops / m->seconds;
    m->jobs = jobs;
    m->transport = transport;
    if (rc == 0 && r.errors != 0)
        rc = -EIO;
out:
    t_driver_fini(&d, js, jobs);
    for (int i = 0; r.states != NULL && i < jobs; i++)
        bench_state_free(r.states[i]);
    free(r.states);
    free(js);
    return rc;
}

static int by_ops_per_s(const void *a, const void *b)
{
    double x = ((const struct measurement *)a)->ops_per_s, y = ((const struct measurement *)b)->ops_per_s;

    return (x > y) - (x < y);
}

/* The run with the median ops/s of repeat runs, after a warm-up. */
typedef int measure_fn(int jobs, double seconds, const char *transport, struct measurement *m);

static int measure_median_of(measure_fn *fn, int jobs, double seconds, int repeat,
                             const char *transport, struct measurement *m)
{
    struct measurement runs[16];
    int rc = fn(jobs, seconds / 5, transport, &runs[0]);

    for (int i = 0; i < repeat && rc == 0; i++)
        rc = fn(jobs, seconds, transport, &runs[i]);
    if (rc != 0)
        return rc;
    qsort(runs, (size_t)repeat, sizeof(runs[0]), by_ops_per_s);
    *m = runs[repeat / 2];
    return 0;
}

static int measure_median(int jobs, double seconds, int repeat, const char *transport,
                          struct measurement *m)
{
    return measure_median_of(measure, jobs, seconds, repeat, transport, m);
}

/* --alg's baselines: one state called directly on this thread, no job. */
static struct bench_state *direct_state;

static int measure_direct(int jobs, double seconds, const char *transport, struct measurement *m)
{
    uint64_t wall0 = clock_ns(CLOCK_MONOTONIC), until = wall0 + (uint64_t)(seconds * 1e9);
    uint64_t cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    unsigned long long ops = 0;

    (void)jobs;
    while (clock_ns(CLOCK_MONOTONIC_COARSE) < until) {
        if (!bench_op(direct_state))
            return -EIO;
        ops++;
    }
    m->seconds = (double)(clock_ns(CLOCK_MONOTONIC) - wall0) / 1e9;
    m->core_ns_per_op = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0) / (double)ops;
    m->ops = ops;
    m->ops_per_s = (double)ops / m->seconds;
    m->jobs = 0;
    m->transport = transport;
    return 0;
}

/* One line of --alg's table: a direct path (keys) or core mode with jobs. */
struct series {
    const char *what;
    int jobs;                    /* 0: called directly on this thread */
    struct bench_keys *keys;     /* direct paths */
    struct measurement runs[16];
    double ratios[16];           /* to the baseline measured in the same round */
};

static int measure_series(struct series *s, double seconds, struct measurement *m)
{
    int rc;

    if (s->jobs > 0)
        return measure(s->jobs, seconds, s->what, m);
    direct_state = bench_state_new(s->keys);
    rc = direct_state != NULL ? measure_direct(0, seconds, s->what, m) : -ENOMEM;
    bench_state_free(direct_state);
    direct_state = NULL;
    return rc;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void print_series(bool json, const char *alg, const char *op, struct series *s, int repeat)
{
    const struct measurement *m;
    double ratio;

    qsort(s->ratios, (size_t)repeat, sizeof(double), by_value);
    ratio = s->ratios[repeat / 2];
    qsort(s->runs, (size_t)repeat, sizeof(s->runs[0]), by_ops_per_s);
    m = &s->runs[repeat / 2];
    if (json)
        printf("{\"alg\":\"%s\",\"op\":\"%s\",\"path\":\"%s\",\"jobs\":%d,\"ops\":%llu,\"seconds\":%.3f,"
               "\"ops_per_s\":%.1f,\"core_cpu_ns_per_op\":%.1f,\"ratio_to_inline\":%.3f}\n",
               alg, op, s->what, s->jobs, m->ops, m->seconds, m->ops_per_s, m->core_ns_per_op, ratio);
    else
        printf("%-30s %5d %12.1f %11.0f ns %9.2fx\n", s->what, s->jobs, m->ops_per_s,
               m->core_ns_per_op, ratio);
}

/*
 * --alg: the default provider inline, ringcrypt without a job, ringcrypt in
 * core mode at each job count. Rounds interleave the paths, and each ratio
 * is the median of ratios to the baseline of the same round: this machine's
 * speed drifts over seconds, which would otherwise favour whichever path ran
 * at the faster moment.
 */
static int run_alg(const char *name, const struct bench_alg *alg, const int *jobs, int njobs,
                   double duration, int repeat, bool json)
{
    OSSL_LIB_CTX *dlib = t_reference_libctx(), *rlib = t_provider_libctx();
    struct bench_keys *dkeys = NULL;
    struct series *series = NULL;
    struct measurement warm;
    struct rc_info info;
    int n = njobs + 2, rc = 1;

    if (dlib == NULL || rlib == NULL || rc_info(&info) != 0) {
        fprintf(stderr, "ringcrypt-bench: cannot set up %s (%s)\n", name, rc_last_error());
        goto out;
    }
    if (!bench_alg_supported(alg, dlib)) {
        fprintf(stderr, "ringcrypt-bench: %s: OpenSSL %s has no %s\n", name,
                OpenSSL_version(OPENSSL_VERSION_STRING), bench_alg_type(alg));
        goto out;
    }
    dkeys = bench_keys_new(alg, dlib);
    alg_keys = bench_keys_new(alg, rlib);
    series = calloc((size_t)n, sizeof(*series));
    if (dkeys == NULL || alg_keys == NULL || series == NULL) {
        fprintf(stderr, "ringcrypt-bench: cannot make %s keys\n", name);
        t_print_errors(name);
        goto out;
    }
    series[0] = (struct series){ .what = "default provider, inline", .keys = dkeys };
    series[1] = (struct series){ .what = "ringcrypt, no job (sync)", .keys = alg_keys };
    for (int i = 0; i < njobs; i++)
        series[2 + i] = (struct series){ .what = "ringcrypt, core mode", .jobs = jobs[i] };
    for (int r = -1; r < repeat; r++) {
        for (int k = 0; k < n; k++) {
            if (measure_series(&series[k], r < 0 ? duration / 5 : duration,
                               r < 0 ? &warm : &series[k].runs[r]) != 0) {
                fprintf(stderr, "ringcrypt-bench: %s, %s at %d jobs failed\n", name,
                        series[k].what, series[k].jobs);
                t_print_errors(name);
                goto out;
            }
            if (r >= 0)
                series[k].ratios[r] = series[k].runs[r].ops_per_s / series[0].runs[r].ops_per_s;
        }
    }
    if (!json)
        printf("ringcrypt-bench --alg %s (%s): %u workers, transport %s, min_offload_bytes %u;\n"
               "median of %d interleaved rounds of %.1f s; ratio = median of each round's\n"
               "ops/s over the default provider inline in that round\n\n"
               "%-30s %5s %12s %14s %10s\n",
               name, bench_alg_op_name(alg), info.workers, info.transport, info.min_offload_bytes,
               repeat, duration,
               "path", "jobs", "ops/s", "core CPU/op", "ratio");
    for (int k = 0; k < n; k++)
        print_series(json, name, bench_alg_op_name(alg), &series[k], repeat);
    rc = 0;
out:
    free(series);
    bench_keys_free(dkeys);
    bench_keys_free(alg_keys);
    alg_keys = NULL;
    t_provider_free(rlib);
    t_provider_free(dlib);
    return rc;
}

/* Restarts the runtime with backend and transport. */
static int configure(const char *backend, const char *force_eventfd, const char *workers)
{
    rc_shutdown();
    if (rc_config_set("backend", backend) != 0 || rc_config_set("force_eventfd", force_eventfd) != 0 ||
        (workers != NULL && rc_config_set("workers", workers) != 0)) {
        fprintf(stderr, "ringcrypt-bench: %s\n", rc_last_error());
        return -EINVAL;
    }
    return rc_init();
}

static void usage(FILE *out)
{
    fprintf(out, "usage: ringcrypt-bench --op null|spin [--spin-us N] [--jobs 1,8,64] "
                 "[--duration SECONDS] [--repeat N] [--workers N] [--json]\n"
                 "       ringcrypt-bench --alg %s\n"
                 "                       [--op encaps|decaps|keygen] [--jobs 1,8,64] [--duration SECONDS]\n"
                 "                       [--repeat N] [--json]\n"
                 "       ringcrypt-bench --help | --version\n",
            bench_alg_names());
}

/* The first two measure the runtime alone (--op); the others choose --alg's operation. */
static const char *const ops[] = { "null", "spin", "encaps", "decaps", "keygen" };
enum { RUNTIME_OPS = 2 };

/* --jobs: up to 16 counts from 1 to 100000, comma-separated; false once reported. */
static bool jobs_arg(struct cli *c, int *jobs, int *njobs)
{
    char list[256], *tok, *save = NULL;
    unsigned int n;
    char *end;

    snprintf(list, sizeof(list), "%s", optarg);
    *njobs = 0;
    for (tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        errno = 0;
        n = (unsigned int)strtoul(tok, &end, 10);
        if (*njobs == 16 || errno != 0 || end == tok || *end != '\0' || n < 1 || n > 100000) {
            cli_bad(c, NULL, "not up to 16 comma-separated counts from 1 to 100000");
            return false;
        }
        jobs[(*njobs)++] = (int)n;
    }
    if (*njobs == 0)
        cli_bad(c, NULL, "no count");
    return *njobs > 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "op", required_argument, NULL, 'o' },      { "jobs", required_argument, NULL, 'j' },
        { "duration", required_argument, NULL, 'd' }, { "workers", required_argument, NULL, 'w' },
        { "json", no_argument, NULL, 'J' },          { "repeat", required_argument, NULL, 'r' },
        { "spin-us", required_argument, NULL, 's' }, { "alg", required_argument, NULL, 'a' },
        CLI_STANDARD_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    struct cli cli = { .name = "ringcrypt-bench", .usage = usage, .longs = opts, .argc = argc,
                       .argv = argv };
    static const struct {
        const char *name, *backend, *force_eventfd;
    } transports[] = {
        { "msg_ring", "worker", "0" },
        { "eventfd", "worker", "1" },
        { "inline", "inline", "0" },
    };
    enum { NT = sizeof(transports) / sizeof(transports[0]) };
    const char *op = NULL, *workers = NULL, *alg = NULL;
    const struct bench_alg *measured = NULL;
    struct measurement m[NT][16];
    int njobs = 3, jobs[16] = { 1, 8, 64 };
    double duration = 1.0;
    unsigned int repeat = 3, spin_us = 50, which = 0;
    bool json = false, ok;
    struct rc_info info;
    unsigned int nworkers = 0;
    int c;

    while ((c = cli_next(&cli)) != -1) {
        ok = true;
        switch (c) {
        case 'o': ok = cli_choice(&cli, ops, sizeof(ops) / sizeof(ops[0]), &which); op = ops[which]; break;
        case 'j': ok = jobs_arg(&cli, jobs, &njobs); break;
        case 'd': ok = cli_number(&cli, 0.001, 1e6, &duration); break;
        /* The runtime checks the value as it is set; --op sets it again for each transport. */
        case 'w':
            workers = optarg;
            if (rc_config_set("workers", workers) != 0)
                return cli_bad(&cli, NULL, "%s", rc_last_error());
            break;
        case 'r': ok = cli_count(&cli, 1, 16, &repeat); break;
        case 's': ok = cli_count(&cli, 1, 100000, &spin_us); break;
        case 'J': json = true; break;
        case 'a':
            alg = optarg;
            if ((measured = bench_alg_find(alg)) == NULL)
                return cli_bad(&cli, NULL, "not one of %s", bench_alg_names());
            break;
        }
        if (!ok)
            return CLI_EXIT_USAGE;
    }
    if (cli.status != CLI_RUN)
        return cli.status;
    if ((op == NULL && alg == NULL) || (op != NULL && alg != NULL && which < RUNTIME_OPS))
        return cli_bad(&cli, op == NULL ? "--op" : "--alg",
                       "give either --op or --alg (with --alg, --op is encaps, decaps or keygen)");
    if (alg == NULL && which >= RUNTIME_OPS)
        return cli_bad(&cli, "--op", "%s needs --alg", op);
    if (alg != NULL && op != NULL) {
        const struct bench_alg *other = bench_alg_op(measured, op);

        if (other == NULL)
            return cli_bad(&cli, "--op", "%s has no %s (its --op: %s)", alg, op, bench_alg_ops(measured));
        measured = other;
    }
    if (op != NULL && strcmp(op, "spin") == 0) {
        calibrate_spin(spin_us);
        work = spin_work;
    }
    if (alg != NULL)
        return run_alg(alg, measured, jobs, njobs, duration, repeat, json);

    for (int t = 0; t < NT; t++) {
        if (configure(transports[t].backend, transports[t].force_eventfd, workers) != 0)
            return 1;
        rc_info(&info);
        if (info.workers != 0)
            nworkers = info.workers;
        if (strcmp(info.transport, transports[t].name) != 0 && strcmp(info.backend, "inline") != 0) {
            fprintf(stderr, "ringcrypt-bench: asked for %s, got %s\n", transports[t].name, info.transport);
            return 1;
        }
        for (int i = 0; i < njobs; i++) {
            if (measure_median(jobs[i], duration, repeat, transports[t].name, &m[t][i]) != 0) {
                fprintf(stderr, "ringcrypt-bench: %s at %d jobs failed\n", transports[t].name, jobs[i]);
                return 1;
            }
            if (json)
                printf("{\"op\":\"%s\",\"transport\":\"%s\",\"jobs\":%d,\"workers\":%u,"
                       "\"ops\":%llu,\"seconds\":%.3f,\"ops_per_s\":%.0f,\"core_cpu_ns_per_op\":%.1f}\n",
                       op, m[t][i].transport, m[t][i].jobs, info.workers, m[t][i].ops, m[t][i].seconds,
                       m[t][i].ops_per_s, m[t][i].core_ns_per_op);
        }
    }
    if (json)
        return 0;

    printf("ringcrypt-bench --op %s: one core thread, %u workers, rings %s,\n"
           "median of %d runs of %.1f s per point\n",
           op, nworkers, info.ring_flags, repeat, duration);
    printf("core CPU/op = the core thread's CPU time per operation (jobs run on it)\n\n");
    printf("%-9s %5s %12s %13s   %12s %13s   %9s\n", "transport", "jobs", "ops/s", "core CPU/op",
           "inline ops/s", "inline CPU/op", "ops ratio");
    for (int t = 0; t < NT - 1; t++)
        for (int i = 0; i < njobs; i++)
            printf("%-9s %5d %12.0f %10.0f ns   %12.0f %10.0f ns   %8.2fx\n", m[t][i].transport,
                   jobs[i], m[t][i].ops_per_s, m[t][i].core_ns_per_op, m[NT - 1][i].ops_per_s,
                   m[NT - 1][i].core_ns_per_op, m[t][i].ops_per_s / m[NT - 1][i].ops_per_s);
    return 0;
}
