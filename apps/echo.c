/*
 * ringcrypt-echo: a TLS echo server on the ringcrypt runtime. One thread per
 * core, each with its own rc_core (io_uring) and its own SO_REUSEPORT
 * listener; accept (multishot), recv and send go through the core's ring and
 * TLS through memory BIOs (tls_conn.c). With --offload async the SSL_CTX has
 * SSL_MODE_ASYNC and an async callback set before any SSL_new: the callback
 * only queues the connection on its core's run queue, and the queued task
 * calls the same SSL function again. --offload sync is the same server
 * without SSL_MODE_ASYNC: the baseline.
 */
#include <errno.h>
#include <libgen.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/async.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cert.h"
#include "cli.h"
#include "ringcrypt.h"
#include "tls_conn.h"

/*
 * ASYNC jobs per server thread. A paused handshake holds a job and its stack,
 * and a thread's pool keeps every job it ever made: after a burst of N
 * handshakes at once, N stacks would stay resident for good. Bounded, a burst
 * leaves at most this many, and a handshake beyond them waits a turn for a
 * job (SSL_ERROR_WANT_ASYNC_JOB). More would only queue requests behind the
 * workers.
 */
#define ECHO_JOBS 64

/* Unsent TLS bytes above which a connection stops reading: a slow reader's bound. */
#define MAX_UNSENT (64 * 1024)

struct options {
    unsigned int threads, max_conns, port;
    bool async;
    const char *cert, *key, *key_type;
    const char *groups;     /* NULL: OpenSSL's defaults */
};

struct counters {
    _Atomic unsigned long accepted, refused, handshakes, closed, errors, bytes_in, bytes_out;
};

static struct counters totals;
static _Atomic unsigned int live_conns;
static atomic_bool stopping, start_failed;

struct server_thread;

struct echo_conn {
    struct tls_conn tls;
    struct server_thread *t;
    struct echo_conn *prev, *next;
    bool handshaken;
    size_t alen, aoff;
    unsigned char app[16384];
};

struct server_thread {
    pthread_t thread;
    int lfd;
    SSL_CTX *ctx;
    const struct options *opt;
    struct rc_core *core;
    struct rc_event ev_accept, ev_accept_retry;
    struct __kernel_timespec retry_ts;  /* read by the kernel when the timeout is submitted */
    bool accepting, retrying;
    struct echo_conn *conns;        /* live connections, to close them at shutdown */
};

static void echo_drive(struct tls_conn *tc);
static void echo_closed(struct tls_conn *tc);

static const struct tls_conn_ops echo_ops = { echo_drive, echo_closed };

/* Handshake, then read and write back; every SSL call goes through tls_conn_after. */
static void echo_drive(struct tls_conn *tc)
{
    struct echo_conn *c = (struct echo_conn *)tc;
    int r;

    for (;;) {
        if (!c->handshaken) {
            if (tls_conn_after(tc, SSL_do_handshake(tc->ssl)) != TLS_PROGRESS)
                return;
            c->handshaken = true;
            atomic_fetch_add_explicit(&totals.handshakes, 1, memory_order_relaxed);
            continue;
        }
        if (c->aoff < c->alen) {
            r = SSL_write(tc->ssl, c->app + c->aoff, (int)(c->alen - c->aoff));
            if (tls_conn_after(tc, r) != TLS_PROGRESS)
                return;
            c->aoff += (size_t)r;
            atomic_fetch_add_explicit(&totals.bytes_out, (unsigned long)r, memory_order_relaxed);
            continue;
        }
        /* A reader slower than its writer: stop reading until what we owe it has gone. */
        if (tls_conn_unsent(tc) > MAX_UNSENT)
            return;
        r = SSL_read(tc->ssl, c->app, sizeof(c->app));
        if (tls_conn_after(tc, r) != TLS_PROGRESS)
            return;
        c->alen = (size_t)r;
        c->aoff = 0;
        atomic_fetch_add_explicit(&totals.bytes_in, (unsigned long)r, memory_order_relaxed);
    }
}

static void echo_closed(struct tls_conn *tc)
{
    struct echo_conn *c = (struct echo_conn *)tc;
    struct server_thread *t = c->t;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    /* A protocol failure is an error; a peer that went away is a closed connection. */
    if (tc->error == EPROTO)
        atomic_fetch_add_explicit(&totals.errors, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&totals.closed, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&live_conns, 1, memory_order_relaxed);
    free(c);
}

static void arm_accept(struct server_thread *t)
{
    struct io_uring_sqe *sqe = rc_core_sqe(t->core);

    io_uring_prep_multishot_accept(sqe, t->lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, &t->ev_accept);
    t->accepting = true;
}

static void start_conn(struct server_thread *t, int fd)
{
    struct echo_conn *c = malloc(sizeof(*c));
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (c == NULL) {
        close(fd);
        atomic_fetch_sub_explicit(&live_conns, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&totals.errors, 1, memory_order_relaxed);
        return;
    }
    if (tls_conn_start(&c->tls, t->core, fd, t->ctx, true, &echo_ops) != 0) {
        free(c);
        atomic_fetch_sub_explicit(&live_conns, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&totals.errors, 1, memory_order_relaxed);
        return;
    }
    c->t = t;
    c->handshaken = false;
    c->alen = c->aoff = 0;
    c->prev = NULL;
    c->next = t->conns;
    if (t->conns != NULL)
        t->conns->prev = c;
    t->conns = c;
    echo_drive(&c->tls);
}

static void on_accept(struct rc_event *ev, int res, unsigned int flags)
{
    struct server_thread *t = (struct server_thread *)(void *)((char *)ev -
                                                               offsetof(struct server_thread, ev_accept));

    if (!(flags & IORING_CQE_F_MORE))
        t->accepting = false;
    if (res >= 0) {
        atomic_fetch_add_explicit(&totals.accepted, 1, memory_order_relaxed);
        /* Over the limit: refused at once, before any TLS, so the client learns at once. */
        if (atomic_fetch_add_explicit(&live_conns, 1, memory_order_relaxed) >= t->opt->max_conns
            || atomic_load(&stopping)) {
            atomic_fetch_sub_explicit(&live_conns, 1, memory_order_relaxed);
            close(res);
            atomic_fetch_add_explicit(&totals.refused, 1, memory_order_relaxed);
        } else {
            start_conn(t, res);
        }
    }
    if (t->accepting || atomic_load(&stopping) || res == -ECANCELED)
        return;
    /* Out of descriptors, say: the same error would come back at once, so pause first. */
    if (res < 0) {
        struct io_uring_sqe *sqe = rc_core_sqe(t->core);

        t->retry_ts = (struct __kernel_timespec){ .tv_nsec = 10 * 1000 * 1000 };
        io_uring_prep_timeout(sqe, &t->retry_ts, 0, 0);
        io_uring_sqe_set_data(sqe, &t->ev_accept_retry);
        t->retrying = true;
        return;
    }
    arm_accept(t);
}

static void on_accept_retry(struct rc_event *ev, int res, unsigned int flags)
{
    struct server_thread *t = (struct server_thread *)(void *)((char *)ev -
                                                               offsetof(struct server_thread,
                                                                        ev_accept_retry));

    (void)res;
    (void)flags;
    t->retrying = false;
    if (!atomic_load(&stopping))
        arm_accept(t);
}

static void *server_main(void *arg)
{
    struct server_thread *t = arg;
    bool closing = false;
    int rc = rc_core_create(NULL, &t->core);

    if (rc == 0 && !ASYNC_init_thread(ECHO_JOBS, 0)) {
        rc_core_destroy(t->core);
        rc = -ENOMEM;
    }
    if (rc != 0) {
        fprintf(stderr, "ringcrypt-echo: no core or no ASYNC job pool: %s\n", strerror(-rc));
        atomic_store(&start_failed, true);
        atomic_store(&stopping, true);
        return NULL;
    }
    t->ev_accept.fn = on_accept;
    t->ev_accept_retry.fn = on_accept_retry;
    arm_accept(t);
    while (!closing || t->conns != NULL || t->accepting || t->retrying) {
        rc_core_run(t->core, 100);
        if (atomic_load(&stopping) && !closing) {
            struct io_uring_sqe *sqe = rc_core_sqe(t->core);

            closing = true;
            /* No new connections; the ones we have end once their paused jobs have. */
            io_uring_prep_cancel(sqe, &t->ev_accept, 0);
            io_uring_sqe_set_data(sqe, NULL);
            for (struct echo_conn *c = t->conns, *next; c != NULL; c = next) {
                next = c->next;
                tls_conn_close(&c->tls, 0);
            }
        }
    }
    rc_core_destroy(t->core);
    return NULL;
}

static int listen_on(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0
        || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4096) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    return getsockname(fd, (struct sockaddr *)&sa, &len) == 0 ? ntohs(sa.sin_port) : -1;
}

/*
 * SO_REUSEPORT lets our threads share the port, and would as quietly let a
 * second server share it: a plain bind first says whether it is taken.
 */
static bool port_free(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0
              && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}

/* The provider from beside this program (build/ringcrypt.so). */
static OSSL_LIB_CTX *load_provider(OSSL_PROVIDER **prov)
{
    OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (libctx == NULL || n <= 0)
        goto fail;
    exe[n] = '\0';
    if (!OSSL_PROVIDER_set_default_search_path(libctx, dirname(exe))
        || (*prov = OSSL_PROVIDER_load(libctx, "ringcrypt")) == NULL) {
        fprintf(stderr, "ringcrypt-echo: cannot load the ringcrypt provider from %s\n", exe);
        ERR_print_errors_fp(stderr);
        goto fail;
    }
    return libctx;
fail:
    OSSL_LIB_CTX_free(libctx);
    return NULL;
}

static SSL_CTX *make_ctx(OSSL_LIB_CTX *libctx, const struct options *opt)
{
    SSL_CTX *ctx = SSL_CTX_new_ex(libctx, NULL, TLS_server_method());
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    bool ok;

    if (ctx == NULL)
        return NULL;
    if (opt->cert != NULL)
        ok = SSL_CTX_use_certificate_chain_file(ctx, opt->cert) == 1
             && SSL_CTX_use_PrivateKey_file(ctx, opt->key, SSL_FILETYPE_PEM) == 1;
    else
        ok = cert_make_self_signed(libctx, opt->key_type, &key, &cert) == 0
             && SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1;
    ok = ok && SSL_CTX_check_private_key(ctx) == 1
         && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1
         && (opt->groups == NULL || SSL_CTX_set1_groups_list(ctx, opt->groups) == 1);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    /* Nothing resumes with this server: tickets would only add work to every handshake. */
    SSL_CTX_set_num_tickets(ctx, 0);
    /* A client that closes without close_notify has just gone: not a protocol error. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* libssl wires the callback into a connection's wait ctx only when it makes it: before SSL_new. */
    if (opt->async) {
        SSL_CTX_set_mode(ctx, SSL_MODE_ASYNC);
        ok = ok && SSL_CTX_set_async_callback(ctx, tls_conn_async_callback) == 1;
    }
    EVP_PKEY_free(key);
    X509_free(cert);
    if (!ok) {
        ERR_print_errors_fp(stderr);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static void print_totals(void)
{
    struct rc_stats s;

    rc_stats_total(&s);
    printf("{\"accepted\":%lu,\"refused\":%lu,\"handshakes\":%lu,\"closed\":%lu,\"errors\":%lu,"
           "\"bytes_in\":%lu,\"bytes_out\":%lu,\"submitted\":%llu,\"completed\":%llu,"
           "\"paused\":%llu,\"callbacks\":%llu,\"timeouts\":%llu,\"kernel\":%llu}\n",
           atomic_load(&totals.accepted), atomic_load(&totals.refused),
           atomic_load(&totals.handshakes), atomic_load(&totals.closed),
           atomic_load(&totals.errors), atomic_load(&totals.bytes_in),
           atomic_load(&totals.bytes_out), (unsigned long long)s.submitted,
           (unsigned long long)s.completed, (unsigned long long)s.paused,
           (unsigned long long)s.callbacks, (unsigned long long)s.timeouts,
           (unsigned long long)s.kernel_ops);
    fflush(stdout);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ringcrypt-echo [--threads N] [--port P] [--offload async|sync]\n"
            "                      [--cert FILE --key FILE | --key-type TYPE] [--groups LIST]\n"
            "                      [--backend auto|worker|inline|afalg] [--workers N] [--max-conns N]\n"
            "       ringcrypt-echo --help | --version\n"
            "  --key-type: the generated certificate's key, rsa (default), ec (P-256), mldsa44,\n"
            "  mldsa65, mldsa87 (OpenSSL 3.5+), slhdsa-sha2-128f... (where the release signs TLS with it).\n"
            "  --groups: the TLS groups accepted, colon-separated (openssl list -tls-groups).\n");
}

static const char *const offloads[] = { "async", "sync" };

/* CLI_RUN, or the status to exit with. */
static int parse(int argc, char **argv, struct options *opt)
{
    static const struct option longs[] = {
        { "threads", required_argument, NULL, 't' }, { "port", required_argument, NULL, 'p' },
        { "offload", required_argument, NULL, 'o' }, { "cert", required_argument, NULL, 'c' },
        { "key", required_argument, NULL, 'k' },     { "key-type", required_argument, NULL, 'K' },
        { "backend", required_argument, NULL, 'b' }, { "workers", required_argument, NULL, 'w' },
        { "max-conns", required_argument, NULL, 'm' }, { "groups", required_argument, NULL, 'g' },
        CLI_STANDARD_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    struct cli cli = { .name = "ringcrypt-echo", .usage = usage, .longs = longs, .argc = argc,
                       .argv = argv };
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned int which = 0;
    char why[128];
    bool ok;
    int ch;

    *opt = (struct options){ .threads = cpus > 0 ? (unsigned int)cpus : 1, .max_conns = 10000,
                             .async = true, .key_type = "rsa" };
    while ((ch = cli_next(&cli)) != -1) {
        ok = true;
        switch (ch) {
        case 't': ok = cli_count(&cli, 1, 256, &opt->threads); break;
        case 'p': ok = cli_count(&cli, 0, 65535, &opt->port); break;
        case 'o': ok = cli_choice(&cli, offloads, 2, &which); opt->async = which == 0; break;
        case 'c': opt->cert = optarg; break;
        case 'k': opt->key = optarg; break;
        case 'K':
            if (!cli_choice(&cli, cert_key_types, cert_n_key_types, &which))
                return CLI_EXIT_USAGE;
            opt->key_type = cert_key_types[which];
            if (cert_key_type_check(opt->key_type, why, sizeof(why)) != 0)
                return cli_bad(&cli, NULL, "%s", why);
            break;
        case 'g': ok = cli_groups(&cli); opt->groups = optarg; break;
        /* The runtime checks its keys as they are set, before anything starts. */
        case 'b':
        case 'w':
            if (rc_config_set(ch == 'b' ? "backend" : "workers", optarg) != 0)
                return cli_bad(&cli, NULL, "%s", rc_last_error());
            break;
        case 'm': ok = cli_count(&cli, 1, 1000000, &opt->max_conns); break;
        }
        if (!ok)
            return CLI_EXIT_USAGE;
    }
    if (cli.status != CLI_RUN)
        return cli.status;
    if (opt->cert != NULL && opt->key == NULL)
        return cli_bad(&cli, "--cert", "needs --key (the certificate's private key)");
    if (opt->key != NULL && opt->cert == NULL)
        return cli_bad(&cli, "--key", "needs --cert (the certificate chain)");
    return CLI_RUN;
}

int main(int argc, char **argv)
{
    struct options opt;
    struct server_thread *threads = NULL;
    OSSL_LIB_CTX *libctx = NULL;
    OSSL_PROVIDER *prov = NULL;
    SSL_CTX *ctx = NULL;
    sigset_t sigs;
    unsigned int started = 0;
    int port, sig, rc;

    if ((rc = parse(argc, argv, &opt)) != CLI_RUN)
        return rc;
    rc = 1;
    /* Every thread inherits the mask: only sigtimedwait below sees SIGINT and SIGTERM. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    libctx = load_provider(&prov);
    ctx = libctx != NULL ? make_ctx(libctx, &opt) : NULL;
    threads = calloc(opt.threads, sizeof(*threads));
    if (ctx == NULL || threads == NULL)
        goto out;
    port = (int)opt.port;
    for (unsigned int i = 0; i < opt.threads; i++)
        threads[i].lfd = -1;
    if (port != 0 && !port_free(port)) {
        fprintf(stderr, "ringcrypt-echo: 127.0.0.1:%d is in use\n", port);
        goto out;
    }
    for (unsigned int i = 0; i < opt.threads; i++) {
        threads[i].lfd = listen_on(port);
        if (threads[i].lfd < 0) {
            fprintf(stderr, "ringcrypt-echo: cannot listen on 127.0.0.1:%d: %s\n", port,
                    strerror(errno));
            goto out;
        }
        port = bound_port(threads[i].lfd);
        threads[i].ctx = ctx;
        threads[i].opt = &opt;
    }
    printf("listening on 127.0.0.1:%d\n", port);
    fflush(stdout);
    for (; started < opt.threads; started++)
        if (pthread_create(&threads[started].thread, NULL, server_main, &threads[started]) != 0)
            goto out;
    /* A thread that failed to start sets stopping itself. */
    while (!atomic_load(&stopping)) {
        struct timespec tick = { 0, 200 * 1000 * 1000 };

        sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM)
            break;
    }
    rc = 0;
out:
    atomic_store(&stopping, true);
    for (unsigned int i = 0; i < started; i++)
        pthread_join(threads[i].thread, NULL);
    for (unsigned int i = 0; threads != NULL && i < opt.threads; i++)
        if (threads[i].lfd >= 0)
            close(threads[i].lfd);
    if (atomic_load(&start_failed))
        rc = 1;
    else if (started > 0)
        print_totals();
    free(threads);
    SSL_CTX_free(ctx);
    rc_shutdown();
    OSSL_PROVIDER_unload(prov);
    OSSL_LIB_CTX_free(libctx);
    return rc;
}
