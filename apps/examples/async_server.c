/*
 * The smallest TLS server that offloads its handshakes' private-key work to
 * ringcrypt: one thread, one rc_core, blocking accept on 127.0.0.1. It serves
 * --connections N handshakes (1 by default), prints its core's counters and
 * exits 0.
 *
 *   OPENSSL_MODULES=build build/examples/async_server --port 4433 --connections 2
 *   openssl s_client -connect 127.0.0.1:4433 -brief </dev/null
 *
 * The numbered steps are those of SSL_CTX_set_async_callback(3)'s example;
 * ringcrypt's provider plays the "engine".
 */
#include <ringcrypt.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>

#include "cert.h"

static const char usage[] = "usage: async_server [--port P] [--connections N]\n";

/*
 * Steps 6 and 7: the callback, small and non-blocking. With a core it runs on
 * this thread inside rc_core_run; step 8 (calling SSL_accept again) is left
 * to drive(), so it only notes that the job can go on. Step 9 is not needed:
 * a retry (ASYNC_STATUS_EAGAIN, step 3) is resumed the same way.
 */
static int wake(SSL *ssl, void *arg)
{
    (void)ssl;
    *(int *)arg = 1;
    return 1;
}

/*
 * Calls step (SSL_accept or SSL_shutdown) until it returns at least done_at,
 * waiting on the socket for WANT_READ/WANT_WRITE and on the core for
 * WANT_ASYNC. 0 or a negative errno.
 */
static int drive(struct rc_core *core, SSL *ssl, int fd, int (*step)(SSL *), int done_at)
{
    int woken = 0;

    /* Step 1 (the argument; the callback is the SSL_CTX's). */
    SSL_set_async_callback_arg(ssl, &woken);
    for (;;) {
        /* Step 2: the asynchronous call; in it, step 3: the provider hands the
         * signature to ringcrypt's workers. */
        int r = step(ssl);
        struct pollfd p = { .fd = fd };

        if (r >= done_at)
            return 0;
        switch (SSL_get_error(ssl, r)) {
        case SSL_ERROR_WANT_ASYNC:
            /* Step 4: the job paused and SSL_accept returned. Step 5: the
             * worker's answer is a completion on this core's ring, which
             * rc_core_run reaps, calling wake(). Step 8: call step() again. */
            while (!woken) {
                int rc = rc_core_run(core, -1);

                if (rc < 0)
                    return rc;
            }
            woken = 0;
            continue;
        case SSL_ERROR_WANT_READ:
            p.events = POLLIN;
            break;
        case SSL_ERROR_WANT_WRITE:
            p.events = POLLOUT;
            break;
        default:
            return -EPROTO;
        }
        if (poll(&p, 1, -1) < 0 && errno != EINTR)
            return -errno;
    }
}

/* A listening socket on 127.0.0.1:port (0: any free port); the fd or -errno. */
static int listen_on(unsigned int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int err;

    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0
        || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        goto fail;
    printf("listening on 127.0.0.1:%u\n", ntohs(a.sin_port));
    fflush(stdout);
    return fd;
fail:
    err = -errno;
    close(fd);
    return err;
}

/* A whole number from min to max, or -1. */
static long number(const char *s, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && v >= min && v <= max ? v : -1;
}

int main(int argc, char **argv)
{
    long port = 0, conns = 1;
    OSSL_LIB_CTX *libctx = NULL;
    OSSL_PROVIDER *prov = NULL;
    SSL_CTX *ctx = NULL;
    struct rc_core *core = NULL;
    struct rc_stats st;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    int lfd = -1, served = 0, status = 1, rc, i;

    for (i = 1; i < argc; i++) {
        long *v = strcmp(argv[i], "--port") == 0 ? &port
                  : strcmp(argv[i], "--connections") == 0 ? &conns : NULL;

        if (v == NULL || i + 1 == argc
            || (*v = number(argv[++i], v == &port ? 0 : 1, v == &port ? 65535 : 1000000)) < 0) {
            fprintf(stderr, "async_server: %s: unknown option or bad value\n%s", argv[i], usage);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN); /* a client that leaves early is not our death */

    /* A library context whose algorithms are ringcrypt's, so that the
     * handshake's signatures are offloaded (OPENSSL_MODULES says where it is
     * until it is installed). */
    libctx = OSSL_LIB_CTX_new();
    prov = libctx != NULL ? OSSL_PROVIDER_load(libctx, "ringcrypt") : NULL;
    ctx = prov != NULL ? SSL_CTX_new_ex(libctx, NULL, TLS_server_method()) : NULL;
    if (ctx == NULL || cert_make_self_signed(libctx, "ec", &key, &cert) != 0
        || SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
        fprintf(stderr, "async_server: cannot set up TLS with the ringcrypt provider\n");
        ERR_print_errors_fp(stderr);
        goto out;
    }
    /* Steps 1 and 2: the callback (instead of polling an fd) and ASYNC mode. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ASYNC);
    SSL_CTX_set_async_callback(ctx, wake);

    /* This thread's core: the completions of its offloads arrive on its ring. */
    rc = rc_core_create(NULL, &core);
    if (rc < 0) {
        fprintf(stderr, "async_server: rc_core_create: %s\n", strerror(-rc));
        goto out;
    }
    lfd = listen_on((unsigned int)port);
    if (lfd < 0) {
        fprintf(stderr, "async_server: 127.0.0.1:%ld: %s\n", port, strerror(-lfd));
        goto out;
    }
    while (served < conns) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        SSL *ssl = fd >= 0 ? SSL_new(ctx) : NULL;

        if (ssl != NULL && SSL_set_fd(ssl, fd) == 1
            && drive(core, ssl, fd, SSL_accept, 1) == 0) {
            served++;
            /* A close_notify (0: sent, the peer's not awaited). */
            drive(core, ssl, fd, SSL_shutdown, 0);
        } else {
            fprintf(stderr, "async_server: a handshake failed\n");
            ERR_print_errors_fp(stderr);
        }
        SSL_free(ssl);
        if (fd >= 0)
            close(fd);
    }
    rc_core_stats(core, &st);
    printf("handshakes %d offloaded %llu paused %llu callbacks %llu errors %llu\n", served,
           (unsigned long long)st.submitted, (unsigned long long)st.paused,
           (unsigned long long)st.callbacks, (unsigned long long)st.errors);
    status = 0;
out:
    if (lfd >= 0)
        close(lfd);
    SSL_CTX_free(ctx);
    EVP_PKEY_free(key);
    X509_free(cert);
    if (core != NULL)
        rc_core_destroy(core);
    OSSL_PROVIDER_unload(prov);
    OSSL_LIB_CTX_free(libctx);
    return status;
}
