/*
 * The two ends of the in-process TLS tests (tls_handshake, pq_tls): a server
 * in a library context with ringcrypt alone and a client on the default
 * provider alone, a certificate of one of apps/cert.c's key types, and a
 * connection between them over a memory BIO pair.
 */
#ifndef RC_TEST_TLS_WORLD_H
#define RC_TEST_TLS_WORLD_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

/* The name apps/cert.c certifies; the client checks it. */
#define TLS_WORLD_HOST "localhost"

struct tls_world {
    OSSL_LIB_CTX *slib;     /* ringcrypt alone */
    OSSL_LIB_CTX *clib;     /* the default provider alone */
    EVP_PKEY *key;
    X509 *cert;
    SSL_CTX *sctx, *cctx;   /* the test makes them; tls_world_fini frees them */
};

/*
 * The libraries and a self-signed certificate of key_type, made outside any
 * job (nothing of it is offloaded). 0, or -EPROTO with the errors printed and
 * nothing left to free.
 */
int tls_world_init(struct tls_world *w, const char *key_type);

void tls_world_fini(struct tls_world *w);

/*
 * A client context in the client's library that verifies its peer and
 * trusts the certificate alone (its own copy, decoded there). NULL on failure.
 */
SSL_CTX *tls_world_client_ctx(const struct tls_world *w);

/*
 * A server SSL and a client SSL of the world's contexts, joined by a BIO pair
 * of pair_bytes each way, in accept and connect state; the client checks the
 * certificate's name. 0, or -EPROTO with the errors printed and nothing made.
 */
int tls_world_connect(const struct tls_world *w, size_t pair_bytes, SSL **server, SSL **client);

/*
 * What the server's TLS handshake offloads for its key exchange, besides its
 * signature, when it agreed on group (in any case, as the release names it):
 * how many, and what they are in *what. 0 for the groups ringcrypt does not
 * wrap (X448, FFDHE).
 */
int tls_key_exchange_offloads(const char *group, const char **what);

/* What a test's client sends: n bytes of a fixed pattern, the same in every run. */
void tls_world_message(unsigned char *buf, size_t n);

#define TLS_MAX_ERRORS 8
#define TLS_ECHO_MAX (64 * 1024)

/* How an end's call failed for good: SSL_get_error's verdict and the errors it left, oldest first. */
struct tls_failure {
    int ssl_error;               /* 0: no failure */
    int n;
    unsigned long codes[TLS_MAX_ERRORS];
};

void tls_failure_print(const char *who, const struct tls_failure *f);

/*
 * One end of an echo over a connection: the client writes its message whole,
 * then reads it back; the server writes back what it reads, a record at a
 * time. The test zeroes it and sets ssl, server, len and, for a client, msg.
 */
struct tls_end {
    SSL *ssl;
    bool server;
    bool silent;                 /* makes no call: the test speaks for it */
    bool handshaken;
    bool paused;                 /* its last call said SSL_ERROR_WANT_ASYNC */
    const unsigned char *msg;    /* the client's message, len bytes */
    size_t len, got, sent;       /* bytes to echo, read, written */
    unsigned char buf[TLS_ECHO_MAX];
    struct tls_failure fail;
};

/* All len bytes went there and back (a failed end is never done). */
bool tls_end_done(const struct tls_end *e);

/*
 * One SSL call for the end's next step (the same arguments again after a
 * wait): true when it moved on; false when it waits for its peer or its job
 * (e->paused), failed (e->fail), or made no call (done, failed or silent).
 */
bool tls_end_call(struct tls_end *e);

/* A server's turn: its calls while it moves on, up to the end of its handshake. */
void tls_end_turn(struct tls_end *e);

/*
 * Both ends in turns until stop(arg): the client's calls while it moves on,
 * then serve(arg), the server's turn in the test's way. False at the deadline.
 */
bool tls_pump(struct tls_end *client, bool (*stop)(void *arg), void (*serve)(void *arg),
              void *arg, int deadline_ms);

#endif
