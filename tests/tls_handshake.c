/*
 * TLS in one process through libssl's async support, with ringcrypt as the
 * server's only provider and a client on the default provider alone, joined
 * by a memory BIO pair pumped on the test's thread.
 *
 * For TLS 1.3 and TLS 1.2 (ECDHE, AES-GCM), RSA-2048 and EC P-256
 * certificates, and the three completion modes (core: the async callback
 * defers the connection to this thread's core; callback: the callback comes
 * from a worker and signals this thread; fd: no callback, SSL_get_all_async_fds
 * and poll), both ends with the release's default groups and signature
 * algorithms, it proves that the server's handshake really pauses
 * (SSL_ERROR_WANT_ASYNC) and resumes on the mode's signal with
 * ASYNC_STATUS_OK, that its signature and, where ringcrypt wraps the group
 * agreed on, its key generation and key exchange went through the runtime,
 * exactly as many offloads as tls_key_exchange_offloads says (OpenSSL 3.5+
 * agrees on X25519MLKEM768 for TLS 1.3: TLS 1.3 runs again with X25519
 * pinned, so that X25519 is checked on every release), that both sides agree on the
 * version and suite asked for and the client accepts the certificate, and
 * that 64 KiB of application data echoed by the server in full 16 KiB
 * records comes back byte for byte, with the records' AEAD seal and open
 * offloaded too. Each prints the group and signature scheme agreed on and
 * what was offloaded.
 *
 * Abandonment: the server's SSL freed while its job waits for a worker (core
 * and fd modes) — the late completion reaches nobody, every request and
 * eventfd is freed, and the same runtime then serves a full connection.
 *
 * Refusals: a ClientHello with no group the server has, and HTTP instead of
 * a ClientHello — the server's handshake fails with the expected error before
 * anything is offloaded, the client hears of it, nothing hangs and nothing
 * leaks. (An error raised on a worker reaching a TLS server's queue is
 * tests/fd_contract's failed derive.)
 */
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "clock.h"
#include "harness.h"
#include "tls_conn.h"
#include "tls_world.h"

#define MSG_BYTES (64 * 1024)
#define RECORD_BYTES SSL3_RT_MAX_PLAIN_LENGTH /* one full record per server SSL_read */
#define PAIR_BYTES (128 * 1024)               /* a whole 64 KiB flight fits in the pair */
#define DEADLINE_MS 60000
#define MAX_FDS 4
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- what is tested ----------------------------------------------------- */

enum cert_kind { CERT_RSA, CERT_EC };

static const char *const cert_names[] = { "rsa", "ec" };

struct proto {
    const char *name;
    int version;
    int (*set_suite)(SSL_CTX *ctx, const char *suite);
    const char *suite[2]; /* by cert kind; what SSL_CIPHER_get_name reports */
};

static const struct proto protos[] = {
    { "tls13", TLS1_3_VERSION, SSL_CTX_set_ciphersuites,
      { "TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256" } },
    { "tls12", TLS1_2_VERSION, SSL_CTX_set_cipher_list,
      { "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384" } },
};

struct server;

/* A way for the client to get itself refused, and the error the server must report. */
struct refusal {
    const char *name;
    enum cert_kind cert;
    void (*provoke)(struct server *s, struct tls_end *c);
    const char *lib, *reason; /* as ERR_lib_error_string / ERR_reason_error_string say */
};

enum kind { ECHO, ABANDON, REFUSED };

struct tls_case {
    char name[48];
    enum kind kind;
    const struct proto *proto;
    enum cert_kind cert;
    enum t_mode mode;
    const struct refusal *refusal;
    const char *groups;        /* both ends' groups; NULL: the release's defaults */
};

/* ---- contexts ------------------------------------------------------------ */

static int wake_on_core(SSL *ssl, void *arg);
static int wake_from_worker(SSL *ssl, void *arg);

static SSL_CTX *server_ctx(const struct tls_world *w, enum t_mode mode)
{
    static SSL_async_callback_fn const wake[] = {
        [T_CORE] = wake_on_core, [T_CALLBACK] = wake_from_worker, [T_FD] = NULL,
    };
    SSL_CTX *ctx = SSL_CTX_new_ex(w->slib, NULL, TLS_server_method());

    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_mode(ctx, SSL_MODE_ASYNC);
    /* libssl hands the callback to a wait ctx only when it makes one: before SSL_new. */
    if ((wake[mode] != NULL && !SSL_CTX_set_async_callback(ctx, wake[mode]))
        || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)
        || SSL_CTX_use_certificate(ctx, w->cert) != 1 || SSL_CTX_use_PrivateKey(ctx, w->key) != 1
        || !SSL_CTX_check_private_key(ctx)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static SSL_CTX *client_ctx(const struct tls_world *w, const struct proto *p, enum cert_kind kind)
{
    SSL_CTX *ctx = tls_world_client_ctx(w);

    if (ctx != NULL
        && (!SSL_CTX_set_min_proto_version(ctx, p->version)
            || !SSL_CTX_set_max_proto_version(ctx, p->version)
            || !p->set_suite(ctx, p->suite[kind]))) {
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

static int world_init(struct tls_world *w, const struct tls_case *tc)
{
    if (tls_world_init(w, cert_names[tc->cert]) != 0)
        return -1;
    w->sctx = server_ctx(w, tc->mode);
    w->cctx = client_ctx(w, tc->proto, tc->cert);
    if (w->sctx != NULL && w->cctx != NULL
        && (tc->groups == NULL
            || (SSL_CTX_set1_groups_list(w->sctx, tc->groups)
                && SSL_CTX_set1_groups_list(w->cctx, tc->groups))))
        return 0;
    t_print_errors("set-up");
    tls_world_fini(w);
    return -1;
}

/* ---- the two ends ------------------------------------------------------- */

static bool failure_has(const struct tls_failure *f, const char *lib, const char *reason)
{
    for (int i = 0; i < f->n; i++) {
        const char *l = ERR_lib_error_string(f->codes[i]);
        const char *r = ERR_reason_error_string(f->codes[i]);

        if (l != NULL && r != NULL && strcmp(l, lib) == 0 && strcmp(r, reason) == 0)
            return true;
    }
    return false;
}

struct server {
    struct tls_end end;
    enum t_mode mode;
    struct rc_core *core;      /* core mode */
    struct rc_task task;
    bool queued;               /* the task is on the core's run queue */
    pthread_mutex_t lock;      /* callback mode: wakes from a worker */
    pthread_cond_t cond;
    int wakes, wakes_taken;
    _Atomic int callbacks;     /* async callbacks, any mode */
    _Atomic int status_ok;     /* of which SSL_get_async_status said ASYNC_STATUS_OK */
    int want_async[2];         /* SSL_ERROR_WANT_ASYNC seen: handshake, data */
    int resumes;
    int max_fds;               /* fd mode: most async fds seen at once */
    struct rc_stats at_data;   /* totals when the handshake finished */
    char group[64];            /* the key exchange the handshake agreed on */
    char sigalg[64];           /* the server's signature scheme */
};

/* What the server agreed on, by the names of the release (apps/tls_conn.c). */
static void note_negotiated(struct server *s)
{
    tls_conn_names(s->end.ssl, false, s->group, sizeof(s->group), s->sigalg, sizeof(s->sigalg));
}

/*
 * Runs the server until it pauses, needs the client, fails, is done or has
 * finished its handshake: the data phase starts from the loop, so that the
 * test can prepare for it.
 */
static void server_step(struct server *s)
{
    bool was = s->end.handshaken;

    if (s->end.paused)
        return;
    tls_end_turn(&s->end);
    if (s->end.paused)
        s->want_async[s->end.handshaken]++;
    if (!was && s->end.handshaken) {
        rc_stats_total(&s->at_data);
        note_negotiated(s);
    }
}

static void server_resume(struct server *s)
{
    s->end.paused = false;
    s->resumes++;
    server_step(s);
}

static void note_callback(struct server *s, SSL *ssl)
{
    int status = -1;

    if (SSL_get_async_status(ssl, &status) && status == ASYNC_STATUS_OK)
        atomic_fetch_add(&s->status_ok, 1);
    atomic_fetch_add(&s->callbacks, 1);
}

/* Core mode: on the core's thread, inside rc_core_run; only queues the connection. */
static int wake_on_core(SSL *ssl, void *arg)
{
    struct server *s = arg;

    note_callback(s, ssl);
    if (!s->queued) {
        s->queued = true;
        rc_core_defer(s->core, &s->task);
    }
    return 1;
}

static void resume_on_core(struct rc_task *t)
{
    struct server *s = (struct server *)(void *)((char *)t - offsetof(struct server, task));

    s->queued = false;
    server_resume(s);
}

/* Callback mode: on the worker that finished; signals the test's thread. */
static int wake_from_worker(SSL *ssl, void *arg)
{
    struct server *s = arg;

    note_callback(s, ssl);
    pthread_mutex_lock(&s->lock);
    s->wakes++;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return 1;
}

static bool wait_wake(struct server *s, int timeout_ms)
{
    struct timespec until = rc_realtime_after_ms((unsigned int)timeout_ms);
    bool woke;

    pthread_mutex_lock(&s->lock);
    /* A worker may call back before the job has even paused: counted, not lost. */
    while (s->wakes == s->wakes_taken && pthread_cond_timedwait(&s->cond, &s->lock, &until) == 0)
        ;
    woke = s->wakes != s->wakes_taken;
    s->wakes_taken = s->wakes;
    pthread_mutex_unlock(&s->lock);
    return woke;
}

/* Fd mode: polls the SSL's async fds; true when the job may be resumed. */
static bool wait_fds(struct server *s, int timeout_ms)
{
    OSSL_ASYNC_FD fds[MAX_FDS];
    struct pollfd pfd[MAX_FDS];
    size_t n = 0;

    if (!SSL_get_all_async_fds(s->end.ssl, NULL, &n) || n > MAX_FDS)
        return false;
    if ((int)n > s->max_fds)
        s->max_fds = (int)n;
    /* Nothing to wait on (back-pressure before any fd was made): retry at once. */
    if (n == 0)
        return true;
    SSL_get_all_async_fds(s->end.ssl, fds, &n);
    for (size_t i = 0; i < n; i++)
        pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
    return poll(pfd, (nfds_t)n, timeout_ms) > 0;
}

static void wait_for_server(struct server *s, int timeout_ms)
{
    switch (s->mode) {
    case T_CORE:
        rc_core_run(s->core, timeout_ms); /* the deferred task resumes it */
        break;
    case T_CALLBACK:
        if (wait_wake(s, timeout_ms))
            server_resume(s);
        break;
    case T_FD:
        if (wait_fds(s, timeout_ms))
            server_resume(s);
        break;
    }
}

/* ---- one connection ----------------------------------------------------- */

static int server_init(struct server *s, enum t_mode mode, struct rc_core *core)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->core = core;
    s->task.fn = resume_on_core;
    if (pthread_mutex_init(&s->lock, NULL) != 0)
        return -1;
    if (pthread_cond_init(&s->cond, NULL) != 0) {
        pthread_mutex_destroy(&s->lock);
        return -1;
    }
    return 0;
}

static void server_fini(struct server *s)
{
    SSL_free(s->end.ssl);
    s->end.ssl = NULL;
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
}

/* What the client sends (filled in main). */
static unsigned char message[MSG_BYTES];

/* Two SSLs joined by a BIO pair; the server's async callback gets s as its argument. */
static int connect_ends(const struct tls_world *w, struct server *s, struct tls_end *c)
{
    memset(c, 0, sizeof(*c));
    c->msg = message;
    c->len = s->end.len = MSG_BYTES;
    s->end.server = true;
    if (tls_world_connect(w, PAIR_BYTES, &s->end.ssl, &c->ssl) != 0)
        return -1;
    if (!SSL_set_async_callback_arg(s->end.ssl, s)) {
        t_print_errors("connect");
        SSL_free(s->end.ssl);
        SSL_free(c->ssl);
        s->end.ssl = c->ssl = NULL;
        return -1;
    }
    return 0;
}

typedef bool stop_fn(const struct server *s, const struct tls_end *c);

struct turns {
    struct server *s;
    const struct tls_end *c;
    stop_fn *stop;
};

static bool turns_stop(void *arg)
{
    const struct turns *t = arg;

    return t->stop(t->s, t->c);
}

/* The server's turn: waiting in the mode's way while it is paused. */
static void serve(void *arg)
{
    struct server *s = ((struct turns *)arg)->s;

    if (s->end.paused)
        wait_for_server(s, 100);
    else
        server_step(s);
}

static bool pump(struct server *s, struct tls_end *c, stop_fn *stop)
{
    return tls_pump(c, turns_stop, serve, &(struct turns){ s, c, stop }, DEADLINE_MS);
}

static bool failed(const struct server *s, const struct tls_end *c)
{
    return s->end.fail.ssl_error != 0 || c->fail.ssl_error != 0;
}

static bool echoed(const struct server *s, const struct tls_end *c)
{
    return failed(s, c) || (tls_end_done(&s->end) && tls_end_done(c));
}

static bool server_paused(const struct server *s, const struct tls_end *c)
{
    return failed(s, c) || s->end.paused;
}

static bool handshaken(const struct server *s, const struct tls_end *c)
{
    return failed(s, c) || s->end.handshaken;
}

static bool refused(const struct server *s, const struct tls_end *c)
{
    return (s->end.fail.ssl_error != 0 && (c->silent || c->fail.ssl_error != 0))
           || s->end.handshaken || tls_end_done(c);
}

/* ---- holding the only worker ---------------------------------------------
 * Left alone, the worker answers an offload moments after its job paused. With
 * one worker (RINGCRYPT_WORKERS=1), held by a job of another thread (callback
 * mode, no core) until the gate opens, the server's next offload has to wait
 * behind it: its job stays paused for as long as the test needs.
 */

struct hold {
    pthread_t thread;
    bool started;
    int ret;
};

static int hold_job(void *arg)
{
    (void)arg;
    return t_offload(&(struct t_offload_args){ .fn = t_work_blocked });
}

static void *hold_thread(void *arg)
{
    struct hold *h = arg;

    h->ret = t_run_job(T_CALLBACK, hold_job, NULL, DEADLINE_MS);
    return NULL;
}

static bool wait_until(bool (*done)(const void *arg), const void *arg, struct rc_core *core)
{
    long start = t_now_ms();

    while (!done(arg)) {
        if (t_now_ms() - start > DEADLINE_MS)
            return false;
        if (core != NULL)
            rc_core_run(core, 10);
        else
            usleep(1000);
    }
    return true;
}

static void hold_begin(struct hold *h)
{
    t_gate_close();
    h->started = pthread_create(&h->thread, NULL, hold_thread, h) == 0;
    CHECK(h->started, "no thread to hold the worker");
    CHECK(h->started && t_gate_wait_held(1) == 1, "the worker was never held");
}

static void hold_end(struct hold *h)
{
    t_gate_open();
    if (!h->started)
        return;
    pthread_join(h->thread, NULL);
    CHECK_EQ(h->ret, 0);
}

/* Runs both ends until the server's job pauses on an offload stuck behind the hold. */
static void pause_server(struct server *s, struct tls_end *c)
{
    struct hold h;

    hold_begin(&h);
    CHECK(pump(s, c, server_paused), "the server never paused");
    CHECK(s->end.paused, "the server did not pause");
    hold_end(&h);
}

/* ---- checks ------------------------------------------------------------- */

static void stats_between(const struct rc_stats *from, const struct rc_stats *to,
                          struct rc_stats *d)
{
    const uint64_t *a = (const uint64_t *)from, *b = (const uint64_t *)to;
    uint64_t *o = (uint64_t *)d;

    for (size_t i = 0; i < sizeof(*d) / sizeof(uint64_t); i++)
        o[i] = b[i] - a[i];
}

/* What both ends agreed on, checked while the SSLs are alive. */
static void check_agreement(const struct tls_case *tc, const struct server *s,
                            const struct tls_end *c)
{
    const char *suite = tc->proto->suite[tc->cert];

    CHECK_EQ(SSL_version(s->end.ssl), tc->proto->version);
    CHECK_EQ(SSL_version(c->ssl), tc->proto->version);
    CHECK(strcmp(SSL_CIPHER_get_name(SSL_get_current_cipher(s->end.ssl)), suite) == 0,
          "server suite %s", SSL_CIPHER_get_name(SSL_get_current_cipher(s->end.ssl)));
    CHECK(strcmp(SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)), suite) == 0,
          "client suite %s", SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)));
    CHECK_EQ(SSL_get_verify_result(c->ssl), X509_V_OK);
    if (tc->groups != NULL)
        CHECK(strcasecmp(s->group, tc->groups) == 0, "agreed on %s, not %s", s->group, tc->groups);
}

/* How the server was told to resume, by mode. */
static void check_wakeups(const struct server *s, const struct rc_stats *total)
{
    int pauses = s->want_async[0] + s->want_async[1];

    CHECK(s->want_async[0] >= 1, "the handshake never said SSL_ERROR_WANT_ASYNC");
    CHECK(s->want_async[1] >= 1, "the data never said SSL_ERROR_WANT_ASYNC");
    CHECK_EQ(s->resumes, pauses);
    switch (s->mode) {
    case T_CORE:
        /* A core answers only in a loop turn, after the pause: one callback per pause. */
        CHECK_EQ(s->callbacks, pauses);
        break;
    case T_CALLBACK:
        /* A worker may answer before the job pauses: then it calls back without a pause. */
        CHECK(s->callbacks >= pauses, "%d callbacks for %d pauses", s->callbacks, pauses);
        break;
    case T_FD:
        CHECK_EQ(s->callbacks, 0);
        CHECK_EQ(s->max_fds, 1);
        CHECK(total->fd_wakes >= (uint64_t)pauses, "fd_wakes %llu",
              (unsigned long long)total->fd_wakes);
        break;
    }
    CHECK_EQ(s->status_ok, s->callbacks);
    CHECK_EQ(total->callbacks, s->callbacks);
}

/* Takes n holds' own offloads (each a submit, a completion, a callback) out of d. */
static void drop_holds(struct rc_stats *d, int n)
{
    d->submitted -= (uint64_t)n;
    d->completed -= (uint64_t)n;
    d->callbacks -= (uint64_t)n;
}

/* The server's offloads in a handshake that agreed on group: its key exchange's, its signature. */
static int handshake_offloads(const char *group, const char **what)
{
    return tls_key_exchange_offloads(group, what) + 1;
}

/*
 * A handshake offloads what its group and signature let it (above); the data
 * phase opens and seals every one of the server's full records, and nothing
 * else. Each phase also holds the worker once.
 */
static void check_offloads(const struct tls_case *tc, const struct server *s,
                           const struct rc_stats *before, const struct rc_stats *after)
{
    struct rc_stats hs, data, total;
    const char *what;
    int want;

    stats_between(before, &s->at_data, &hs);
    stats_between(&s->at_data, after, &data);
    stats_between(before, after, &total);
    drop_holds(&hs, 1);
    drop_holds(&data, 1);
    drop_holds(&total, 2);
    want = handshake_offloads(s->group, &what);
    printf("  %s: group %s, signature %s; the handshake offloaded %llu (%s; signature),"
           " the data %llu records\n", tc->name, s->group, s->sigalg,
           (unsigned long long)hs.submitted, what, (unsigned long long)data.submitted);
    CHECK(hs.submitted == (uint64_t)want, "handshake submitted %llu, %d expected with %s",
          (unsigned long long)hs.submitted, want, s->group);
    CHECK_EQ(hs.completed, hs.submitted);
    CHECK_EQ(data.submitted, 2 * MSG_BYTES / RECORD_BYTES);
    CHECK_EQ(total.completed, total.submitted);
    CHECK_EQ(total.errors, 0);
    check_wakeups(s, &total);
}

/*
 * A full connection: handshake, 64 KiB echoed. Checks what the ends agreed on
 * and the data, frees both SSLs; the caller checks the counters once the
 * runtime has stopped.
 */
static void echo_session(const struct tls_world *w, const struct tls_case *tc, struct server *s,
                         struct tls_end *c, struct rc_stats *before)
{
    rc_stats_total(before);
    if (connect_ends(w, s, c) != 0) {
        CHECK(false, "no connection");
        return;
    }
    pause_server(s, c);
    CHECK(pump(s, c, handshaken), "no handshake within %d ms", DEADLINE_MS);
    pause_server(s, c);
    CHECK(pump(s, c, echoed), "no echo within %d ms", DEADLINE_MS);
    CHECK(tls_end_done(&s->end), "the server has not echoed all");
    CHECK(tls_end_done(c), "the client has not read all back");
    if (failed(s, c)) {
        tls_failure_print("server", &s->end.fail);
        tls_failure_print("client", &c->fail);
    }
    if (tls_end_done(c)) {
        check_agreement(tc, s, c);
        CHECK(memcmp(c->buf, c->msg, MSG_BYTES) == 0, "the echo differs from the message");
    }
    SSL_free(c->ssl);
    c->ssl = NULL;
}

/* ---- scenarios ---------------------------------------------------------- */

static struct server server;
static struct tls_end client;

static int run_echo(const struct tls_case *tc)
{
    struct rc_core *core = NULL;
    struct rc_stats before, after;
    struct tls_world w;

    if (world_init(&w, tc) != 0)
        return T_FAIL;
    if (tc->mode == T_CORE)
        CHECK_EQ(rc_core_create(NULL, &core), 0);
    CHECK_EQ(server_init(&server, tc->mode, core), 0);
    echo_session(&w, tc, &server, &client, &before);
    server_fini(&server);
    if (core != NULL)
        rc_core_destroy(core);
    /* Stopped, the runtime's counters are final: callbacks are counted after they return. */
    rc_shutdown();
    rc_stats_total(&after);
    check_offloads(tc, &server, &before, &after);
    tls_world_fini(&w);
    return t_failures ? T_FAIL : T_PASS;
}

static bool settled(const void *arg)
{
    struct rc_stats d;

    t_stats_since(arg, &d);
    return d.completed == d.submitted;
}

static bool fds_back(const void *arg)
{
    return t_count_fds() == *(const int *)arg;
}

/*
 * OpenSSL 3.0 never frees a job whose SSL is freed while it is paused (nor its
 * fibre's stack): kept here, it stays reachable, as it would be had libssl
 * kept it. libssl reads the ClientHello from inside the job that then pauses,
 * so the BIO's callback sees that job.
 */
static ASYNC_JOB *abandoned_job;

static long note_job(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret,
                     size_t *processed)
{
    ASYNC_JOB *job = ASYNC_get_current_job();

    (void)b;
    (void)oper;
    (void)argp;
    (void)len;
    (void)argi;
    (void)argl;
    (void)processed;
    if (job != NULL)
        abandoned_job = job;
    return ret;
}

/*
 * The server's first offload waits behind the hold when its SSL is freed: its
 * completion necessarily comes late, to a wait ctx that is gone.
 */
static void abandon_paused(const struct tls_world *w, struct server *s, struct tls_end *c)
{
    struct pollfd pfd = { .fd = -1, .events = POLLIN };
    struct hold h;
    size_t n = 1;

    if (connect_ends(w, s, c) != 0) {
        CHECK(false, "no connection");
        return;
    }
    BIO_set_callback_ex(SSL_get_rbio(s->end.ssl), note_job);
    hold_begin(&h);
    CHECK(pump(s, c, server_paused), "the server never paused");
    CHECK(s->end.paused, "the server did not pause");
    CHECK_EQ(s->want_async[0], 1);
    CHECK(abandoned_job != NULL, "the server's I/O ran outside a job");
    if (s->mode == T_FD) {
        CHECK(SSL_get_all_async_fds(s->end.ssl, &pfd.fd, &n) && n == 1, "%zu async fds", n);
        CHECK_EQ(poll(&pfd, 1, 0), 0);
    }
    SSL_free(s->end.ssl);
    s->end.ssl = NULL;
    SSL_free(c->ssl);
    c->ssl = NULL;
    hold_end(&h);
}

static int run_abandon(const struct tls_case *tc)
{
    struct rc_core *core = NULL;
    struct rc_stats before, after, d;
    struct tls_world w;
    int fds;

    if (world_init(&w, tc) != 0)
        return T_FAIL;
    CHECK_EQ(rc_init(), 0); /* the workers' rings and doorbells are not the point */
    fds = t_count_fds();
    if (tc->mode == T_CORE)
        CHECK_EQ(rc_core_create(NULL, &core), 0);
    CHECK_EQ(server_init(&server, tc->mode, core), 0);
    rc_stats_total(&before);
    abandon_paused(&w, &server, &client);
    CHECK(wait_until(settled, &before, core), "the abandoned request never completed");
    t_stats_since(&before, &d);
    CHECK_EQ(d.submitted, 2); /* the hold's and the server's */
    CHECK_EQ(d.errors, 0);
    /* Dropped: the freed SSL's callback never ran, its job was never resumed. */
    CHECK_EQ(server.callbacks, 0);
    CHECK_EQ(server.resumes, 0);
    server_fini(&server);

    /* The same core and worker then serve a whole connection. */
    CHECK_EQ(server_init(&server, tc->mode, core), 0);
    echo_session(&w, tc, &server, &client, &before);
    server_fini(&server);
    if (core != NULL)
        rc_core_destroy(core);
    /* The abandoned request's eventfd (fd mode) went with it, the core's ring with the core. */
    CHECK(wait_until(fds_back, &fds, NULL), "%d fds open, %d before", t_count_fds(), fds);
    rc_shutdown();
    rc_stats_total(&after);
    check_offloads(tc, &server, &before, &after);
    tls_world_fini(&w);
    return t_failures ? T_FAIL : T_PASS;
}

static void offer_unknown_group(struct server *s, struct tls_end *c)
{
    CHECK(SSL_set1_groups_list(s->end.ssl, "P-384:ffdhe2048"), "server groups");
    CHECK(SSL_set1_groups_list(c->ssl, "X25519"), "client groups");
}

static void send_http(struct server *s, struct tls_end *c)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: " TLS_WORLD_HOST "\r\n\r\n";

    (void)s;
    c->silent = true;
    CHECK_EQ(BIO_write(SSL_get_wbio(c->ssl), req, (int)sizeof(req) - 1), (int)sizeof(req) - 1);
}

static const struct refusal refusals[] = {
    { "no_shared_group", CERT_EC, offer_unknown_group, "SSL routines", "no suitable key share" },
    { "http_request", CERT_EC, send_http, "SSL routines", "http request" },
};

static int run_refused(const struct tls_case *tc)
{
    const struct refusal *r = tc->refusal;
    struct rc_core *core = NULL;
    struct rc_stats before, d;
    struct tls_world w;

    if (world_init(&w, tc) != 0)
        return T_FAIL;
    if (tc->mode == T_CORE)
        CHECK_EQ(rc_core_create(NULL, &core), 0);
    CHECK_EQ(server_init(&server, tc->mode, core), 0);
    rc_stats_total(&before);
    if (connect_ends(&w, &server, &client) != 0) {
        CHECK(false, "no connection");
        goto out;
    }
    r->provoke(&server, &client);
    CHECK(pump(&server, &client, refused), "still talking after %d ms", DEADLINE_MS);
    CHECK(!server.end.handshaken, "the server made a handshake");
    CHECK_EQ(server.end.fail.ssl_error, SSL_ERROR_SSL);
    CHECK(failure_has(&server.end.fail, r->lib, r->reason), "no \"%s: %s\" on the server's queue",
          r->lib, r->reason);
    CHECK(client.silent || client.fail.ssl_error == SSL_ERROR_SSL, "the client was not told");
    if (t_failures) {
        tls_failure_print("server", &server.end.fail);
        tls_failure_print("client", &client.fail);
    }
    SSL_free(client.ssl);
    client.ssl = NULL;
out:
    server_fini(&server);
    if (core != NULL)
        rc_core_destroy(core);
    rc_shutdown();
    t_stats_since(&before, &d);
    CHECK_EQ(d.completed, d.submitted);
    /* Refused before anything costly: nothing offloaded, never paused. */
    CHECK_EQ(server.want_async[0], 0);
    CHECK_EQ(d.submitted, 0);
    tls_world_fini(&w);
    return t_failures ? T_FAIL : T_PASS;
}

/* ---- the table ----------------------------------------------------------- */

#define N_MODES 3

static const enum t_mode abandon_modes[] = { T_CORE, T_FD };

/*
 * With the release's groups TLS 1.3 agrees on X25519MLKEM768 from OpenSSL 3.5
 * on: these cases pin X25519, whose key share and exchange ringcrypt
 * offloads, on every release.
 */
#define PINNED "X25519"

#define N_CASES \
    (N_OF(protos) * N_OF(cert_names) * N_MODES + N_OF(cert_names) * N_MODES \
     + N_OF(abandon_modes) + N_OF(refusals) * N_MODES)

static struct tls_case cases[N_CASES];
static struct scenario scenarios[N_CASES + 1];
static const struct tls_case *current;
/*
 * Every scenario holds its only worker at times (see hold_begin), for as long
 * as the test needs: no request's deadline may expire meanwhile. AEAD offload
 * is off by default; full 16 KiB records are offloaded here.
 */
static const char *const one_held_worker[] = { "RINGCRYPT_WORKERS=1", "RINGCRYPT_TIMEOUT_MS=60000",
                                               "RINGCRYPT_MIN_OFFLOAD_BYTES=16384", NULL };

static int run_current(void)
{
    static int (*const run[])(const struct tls_case *) = {
        [ECHO] = run_echo, [ABANDON] = run_abandon, [REFUSED] = run_refused,
    };

    return run[current->kind](current);
}

static void add(struct tls_case tc)
{
    static size_t n;

    cases[n] = tc;
    scenarios[n] = (struct scenario){ cases[n].name, run_current, one_held_worker };
    n++;
}

static void build_cases(void)
{
    struct tls_case tc;

    for (size_t p = 0; p < N_OF(protos); p++)
        for (int cert = CERT_RSA; cert <= CERT_EC; cert++)
            for (int m = 0; m < N_MODES; m++) {
                tc = (struct tls_case){ .kind = ECHO, .proto = &protos[p], .cert = cert,
                                        .mode = m };
                snprintf(tc.name, sizeof(tc.name), "%s_%s_%s", protos[p].name, cert_names[cert],
                         t_mode_names[m]);
                add(tc);
            }
    for (int cert = CERT_RSA; cert <= CERT_EC; cert++)
        for (int m = 0; m < N_MODES; m++) {
            tc = (struct tls_case){ .kind = ECHO, .proto = &protos[0], .cert = cert, .mode = m,
                                    .groups = PINNED };
            snprintf(tc.name, sizeof(tc.name), "%s_%s_%s_x25519", protos[0].name, cert_names[cert],
                     t_mode_names[m]);
            add(tc);
        }
    for (size_t m = 0; m < N_OF(abandon_modes); m++) {
        tc = (struct tls_case){ .kind = ABANDON, .proto = &protos[0], .cert = CERT_RSA,
                                .mode = abandon_modes[m] };
        snprintf(tc.name, sizeof(tc.name), "abandoned_%s", t_mode_names[abandon_modes[m]]);
        add(tc);
    }
    for (size_t r = 0; r < N_OF(refusals); r++)
        for (int m = 0; m < N_MODES; m++) {
            tc = (struct tls_case){ .kind = REFUSED, .proto = &protos[0],
                                    .cert = refusals[r].cert, .mode = m,
                                    .refusal = &refusals[r] };
            snprintf(tc.name, sizeof(tc.name), "refused_%s_%s", refusals[r].name,
                     t_mode_names[m]);
            add(tc);
        }
}

int main(int argc, char **argv)
{
    int i;

    tls_world_message(message, sizeof(message));
    build_cases();
    i = argc > 1 ? t_scenario_index(scenarios, argv[1]) : -1;
    current = i >= 0 ? &cases[i] : NULL;
    return t_main(argc, argv, scenarios);
}
