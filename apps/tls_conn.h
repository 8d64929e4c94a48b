/*
 * A TLS connection over a core's io_uring, for the echo server and the load
 * client: the socket side (recv and send through the ring, TLS bytes through a
 * BIO pair) and the rules of a paused ASYNC job (the wait-ctx callback only
 * queues the connection on its core; closing waits for a paused job to end).
 * The application's protocol lives in ops->drive, which makes the SSL calls
 * and hands each result to tls_conn_after.
 */
#ifndef RC_APPS_TLS_CONN_H
#define RC_APPS_TLS_CONN_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "ringcrypt.h"

struct tls_conn;

struct tls_conn_ops {
    /* Make progress: called after input, after output drained, after an async completion. */
    void (*drive)(struct tls_conn *c);
    /* Everything is over (socket closed, SSL freed): free what holds c. */
    void (*closed)(struct tls_conn *c);
};

/* What an SSL call's result means for the caller of tls_conn_after. */
enum tls_step {
    TLS_PROGRESS,   /* the call succeeded */
    TLS_WAIT,       /* it waits for input, output room or a paused job: drive runs again */
    TLS_DONE,       /* the connection is closing: stop driving */
};

struct tls_conn {
    struct rc_core *core;
    int fd;
    SSL *ssl;
    BIO *net;                       /* our end of the BIO pair; the SSL has the other */
    const struct tls_conn_ops *ops;
    struct rc_event ev_recv, ev_send;
    struct rc_task task;            /* drive again on the core, after an async completion */
    unsigned char *rbuf, *sbuf;
    size_t slen, soff;              /* bytes in sbuf, bytes of them sent */
    unsigned int inflight;          /* our SQEs not yet completed */
    bool recv_posted, send_posted, task_queued;
    bool eof;                       /* the peer will send no more */
    bool draining;                  /* our last bytes (and close_notify) are going out */
    bool shutdown_paused;           /* SSL_shutdown's job is paused: only SSL_shutdown resumes it */
    bool closing;                   /* tls_conn_close was called */
    int error;                      /* the first failure, for the application's counters */
};

/*
 * Sets c up on core for an accepted or connected fd (taken over: closed at
 * the end). SSL comes from ctx; server selects the accept side. Returns 0 or
 * -ENOMEM (fd closed, nothing to free).
 */
int tls_conn_start(struct tls_conn *c, struct rc_core *core, int fd, SSL_CTX *ctx, bool server,
                   const struct tls_conn_ops *ops);

/* Interprets an SSL call's return value ret (posting reads, flushing writes). */
enum tls_step tls_conn_after(struct tls_conn *c, int ret);

/* Sends what the SSL has produced; drive runs again when it has gone. */
void tls_conn_flush(struct tls_conn *c);

/* TLS bytes produced but not yet on the socket (back-pressure). */
size_t tls_conn_unsent(const struct tls_conn *c);

/*
 * Ends the connection the polite way: queues a close_notify (or the alert an
 * error left), sends everything still owed, then closes. Idempotent.
 */
void tls_conn_finish(struct tls_conn *c, int error);

/*
 * Closes at once: stops reading, waits for a paused job to finish and for our SQEs to
 * complete, then frees the SSL, closes the socket and calls ops->closed.
 * Idempotent.
 */
void tls_conn_close(struct tls_conn *c, int error);

/*
 * What a finished handshake agreed on, by the release's names: the group of
 * the key exchange ("X25519MLKEM768") and the server's signature scheme
 * ("mldsa65", "rsa_pss_rsae_sha256"; before OpenSSL 3.5 the key type and
 * digest, "RSASSA-PSS+SHA256"), as the server made it or, with peer, as the
 * client saw it. "none" for what the handshake did not have.
 */
void tls_conn_names(SSL *ssl, bool peer, char *group, size_t glen, char *sig, size_t slen);

/* For SSL_CTX_set_async_callback: queues the connection (its arg) on its core. */
int tls_conn_async_callback(SSL *ssl, void *arg);

#endif
