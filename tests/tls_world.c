/* The two ends of the in-process TLS tests; see tls_world.h. */
#include "tls_world.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

#include "cert.h"
#include "harness.h"

int tls_world_init(struct tls_world *w, const char *key_type)
{
    memset(w, 0, sizeof(*w));
    w->slib = t_provider_libctx();
    w->clib = t_reference_libctx();
    if (w->slib == NULL || w->clib == NULL
        || cert_make_self_signed(w->slib, key_type, &w->key, &w->cert) != 0) {
        t_print_errors("set-up");
        tls_world_fini(w);
        return -EPROTO;
    }
    return 0;
}

void tls_world_fini(struct tls_world *w)
{
    SSL_CTX_free(w->sctx);
    SSL_CTX_free(w->cctx);
    X509_free(w->cert);
    EVP_PKEY_free(w->key);
    t_provider_free(w->slib);
    t_provider_free(w->clib);
    memset(w, 0, sizeof(*w));
}

SSL_CTX *tls_world_client_ctx(const struct tls_world *w)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    int len = i2d_X509(w->cert, &der);
    X509 *trusted = X509_new_ex(w->clib, NULL);
    SSL_CTX *ctx = SSL_CTX_new_ex(w->clib, NULL, TLS_client_method());

    p = der;
    if (len <= 0 || trusted == NULL || d2i_X509(&trusted, &p, len) == NULL || ctx == NULL
        || !X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), trusted)) {
        SSL_CTX_free(ctx);
        ctx = NULL;
        goto out;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
out:
    X509_free(trusted);
    OPENSSL_free(der);
    return ctx;
}

int tls_world_connect(const struct tls_world *w, size_t pair_bytes, SSL **server, SSL **client)
{
    BIO *sb = NULL, *cb = NULL;

    *server = SSL_new(w->sctx);
    *client = SSL_new(w->cctx);
    if (*server == NULL || *client == NULL || !BIO_new_bio_pair(&sb, pair_bytes, &cb, pair_bytes)
        /* SSL_set1_host, which OpenSSL 4.0 deprecates, did just this. */
        || !X509_VERIFY_PARAM_set1_host(SSL_get0_param(*client), TLS_WORLD_HOST, 0)) {
        t_print_errors("connect");
        BIO_free(sb);
        BIO_free(cb);
        SSL_free(*server);
        SSL_free(*client);
        *server = *client = NULL;
        return -EPROTO;
    }
    SSL_set_bio(*server, sb, sb);
    SSL_set_bio(*client, cb, cb);
    SSL_set_accept_state(*server);
    SSL_set_connect_state(*client);
    return 0;
}

/*
 * ringcrypt wraps X25519's key generation and exchange, ECDH but not EC key
 * generation, and the encapsulation of ML-KEM and its hybrids, whose
 * classical half runs inside the default provider's KEM, in the same request
 * (engine/algs.c). The empty key a TLS 1.3 server makes from the group's
 * parameters to hold the client's share (ssl_generate_param_group:
 * EVP_PKEY_paramgen, through the group's key generation) is no key pair: it
 * stays on the caller.
 */
static const struct {
    const char *group;
    int offloads;
    const char *what;
} key_exchanges[] = {
    { "x25519", 2, "key share, exchange" },
    { "secp256r1", 1, "exchange" },
    { "secp384r1", 1, "exchange" },
    { "secp521r1", 1, "exchange" },
    { "X25519MLKEM768", 1, "encapsulation" },
    { "SecP256r1MLKEM768", 1, "encapsulation" },
    { "SecP384r1MLKEM1024", 1, "encapsulation" },
    { "X448MLKEM1024", 1, "encapsulation" },
    { "MLKEM512", 1, "encapsulation" },
    { "MLKEM768", 1, "encapsulation" },
    { "MLKEM1024", 1, "encapsulation" },
};

int tls_key_exchange_offloads(const char *group, const char **what)
{
    for (size_t i = 0; i < sizeof(key_exchanges) / sizeof(key_exchanges[0]); i++) {
        if (strcasecmp(group, key_exchanges[i].group) == 0) {
            *what = key_exchanges[i].what;
            return key_exchanges[i].offloads;
        }
    }
    *what = "key exchange not wrapped";
    return 0;
}

void tls_world_message(unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)((i * 2654435761u) >> 13);
}

void tls_failure_print(const char *who, const struct tls_failure *f)
{
    char buf[256];

    fprintf(stderr, "  %s: SSL_get_error %d\n", who, f->ssl_error);
    for (int i = 0; i < f->n; i++) {
        ERR_error_string_n(f->codes[i], buf, sizeof(buf));
        fprintf(stderr, "    %s\n", buf);
    }
}

static void take_errors(struct tls_failure *f, int ssl_error)
{
    unsigned long e;

    f->ssl_error = ssl_error;
    while ((e = ERR_get_error()) != 0)
        if (f->n < TLS_MAX_ERRORS)
            f->codes[f->n++] = e;
}

bool tls_end_done(const struct tls_end *e)
{
    return e->fail.ssl_error == 0 && e->handshaken && e->sent == e->len && e->got == e->len;
}

bool tls_end_call(struct tls_end *e)
{
    /* The client writes the whole message, then reads; the server writes back what it has read. */
    size_t owed = e->server ? e->got : e->len;
    bool writing = e->sent < owed;
    /* One record per read at most: the server echoes record by record. */
    size_t room = e->len - e->got < SSL3_RT_MAX_PLAIN_LENGTH ? e->len - e->got
                                                               : SSL3_RT_MAX_PLAIN_LENGTH;
    int rc, err;

    e->paused = false;
    if (e->silent || e->fail.ssl_error != 0 || tls_end_done(e))
        return false;
    ERR_clear_error();
    if (!e->handshaken)
        rc = SSL_do_handshake(e->ssl);
    else if (writing)
        rc = SSL_write(e->ssl, (e->server ? e->buf : e->msg) + e->sent, (int)(owed - e->sent));
    else
        rc = SSL_read(e->ssl, e->buf + e->got, (int)room);
    if (rc > 0) {
        if (!e->handshaken)
            e->handshaken = true;
        else if (writing)
            e->sent += (size_t)rc;
        else
            e->got += (size_t)rc;
        return true;
    }
    err = SSL_get_error(e->ssl, rc);
    if (err == SSL_ERROR_WANT_ASYNC)
        e->paused = true;
    else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
        take_errors(&e->fail, err);
    ERR_clear_error();
    return false;
}

void tls_end_turn(struct tls_end *e)
{
    bool was = e->handshaken;

    while (tls_end_call(e) && e->handshaken == was)
        ;
}

bool tls_pump(struct tls_end *client, bool (*stop)(void *arg), void (*serve)(void *arg),
              void *arg, int deadline_ms)
{
    long start = t_now_ms();

    while (!stop(arg)) {
        if (t_now_ms() - start > deadline_ms)
            return false;
        while (tls_end_call(client))
            ;
        serve(arg);
    }
    return true;
}
