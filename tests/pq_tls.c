/*
 * Post-quantum TLS 1.3 through the ringcrypt provider (OpenSSL 3.5+): a
 * server in a library context with ringcrypt alone, a client on the default
 * provider alone, joined by a memory BIO pair. Every server call runs in an
 * ASYNC job of the harness, driven in each completion mode (core, callback,
 * fd), so that what the provider offloads pauses the job and resumes on the
 * mode's signal; the client's calls run outside any job.
 *
 * For each certificate (RSA-2048, EC P-256, ML-DSA-44/65/87, SLH-DSA-SHA2-128f)
 * and each group the release offers of X25519MLKEM768, SecP256r1MLKEM768,
 * SecP384r1MLKEM1024, X448MLKEM1024, MLKEM512, MLKEM768 and MLKEM1024 (the
 * client offering that one alone), one connection: both ends agree on the
 * group and the signature scheme, the client verifies the certificate, 16 KiB
 * come back byte for byte, and the server's handshake offloaded exactly what
 * tls_key_exchange_offloads and certs[] say; nothing else is offloaded, everything
 * completes, nothing fails.
 *
 * SLH-DSA has no TLS signature scheme in OpenSSL 3.5 or 4.0: libssl refuses
 * the certificate ("unknown certificate type"). That refusal is checked, and
 * the certificate's own SLH-DSA signature, made inside a job, is the one
 * offload asserted for it.
 *
 * Refusals: a client offering only a group the server does not accept, and
 * one that allows no ML-DSA signature scheme facing an ML-DSA certificate —
 * the server's handshake fails with the expected error, the client is told,
 * nothing hangs; the sanitizer builds check that nothing leaks.
 *
 * Before OpenSSL 3.5 there is no ML-KEM: the test exits 77 saying so.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cert.h"
#include "harness.h"
#include "tls_conn.h"
#include "tls_world.h"

#define MSG_BYTES (16 * 1024)
#define PAIR_BYTES (64 * 1024)
#define DEADLINE_MS 60000
#define NAME_LEN 64
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The groups, each the client's only offer. The server's offloads for each
 * are tls_key_exchange_offloads' (tests/tls_world.c): one, the encapsulation
 * to the client's key share; the empty key libssl makes to hold that share
 * is no key pair, and stays on the caller.
 */
static const char *const groups[] = {
    "X25519MLKEM768", "SecP256r1MLKEM768", "SecP384r1MLKEM1024", "X448MLKEM1024",
    "MLKEM512",       "MLKEM768",          "MLKEM1024",
};

/*
 * The certificates, by apps/cert.c's key types: the signature scheme a
 * TLS 1.3 handshake signs with (NULL: the release has none for it), and the
 * server's offloads for it, its CertificateVerify signature.
 */
static const struct cert_kind {
    const char *key_type;
    const char *scheme;
    int offloads;
} certs[] = {
    { "rsa", "rsa_pss_rsae_sha256", 1 },
    { "ec", "ecdsa_secp256r1_sha256", 1 },
    { "mldsa44", "mldsa44", 1 },
    { "mldsa65", "mldsa65", 1 },
    { "mldsa87", "mldsa87", 1 },
    { "slhdsa-sha2-128f", NULL, 1 },
};

/* ---- the two ends ---------------------------------------------------------- */

/* What the client sends (filled in main). */
static unsigned char message[MSG_BYTES];

struct conn {
    struct tls_end server, client;
    struct rc_stats before, at_data;  /* totals at the start, and when the handshake ended */
    enum t_mode mode;
};

static bool failed(const struct conn *c)
{
    return c->server.fail.ssl_error != 0 || c->client.fail.ssl_error != 0;
}

static bool conn_over(void *arg)
{
    const struct conn *c = arg;

    return failed(c) || (tls_end_done(&c->server) && tls_end_done(&c->client));
}

/* In the server's job: its calls until it waits for the client or the handshake ends. */
static int server_turn(void *arg)
{
    tls_end_turn(arg);
    return 0;
}

static void serve(void *arg)
{
    struct conn *c = arg;
    bool was = c->server.handshaken;

    CHECK_EQ(t_run_job(c->mode, server_turn, &c->server, DEADLINE_MS), 0);
    if (!was && c->server.handshaken)
        rc_stats_total(&c->at_data);
}

/*
 * Both ends until both are finished (or one failed): the server's turns in
 * jobs driven in mode. False at the deadline.
 */
static bool pump(struct conn *c, enum t_mode mode)
{
    c->mode = mode;
    if (!tls_pump(&c->client, conn_over, serve, c, DEADLINE_MS))
        return false;
    /* The failing side's alert reaches the other. */
    while (tls_end_call(&c->client))
        ;
    return true;
}

/* ---- contexts -------------------------------------------------------------- */

/*
 * The end of a scenario: the runtime stopped, every offload since before
 * must have completed; their count in d. The scenario's verdict.
 */
static int world_end(struct tls_world *w, const struct rc_stats *before, struct rc_stats *d)
{
    rc_shutdown();
    t_stats_since(before, d);
    CHECK_EQ(d->completed, d->submitted);
    tls_world_fini(w);
    return t_failures ? T_FAIL : T_PASS;
}

/* A TLS 1.3 server of the certificate; 0 or the error libssl refused it with. */
static unsigned long server_ctx(struct tls_world *w)
{
    unsigned long e;

    w->sctx = SSL_CTX_new_ex(w->slib, NULL, TLS_server_method());
    if (w->sctx != NULL && SSL_CTX_set_min_proto_version(w->sctx, TLS1_3_VERSION)
        && SSL_CTX_use_certificate(w->sctx, w->cert) == 1
        && SSL_CTX_use_PrivateKey(w->sctx, w->key) == 1) {
        /* No tickets: what the server offloads after the handshake is the records alone. */
        SSL_CTX_set_num_tickets(w->sctx, 0);
        return 0;
    }
    e = ERR_peek_last_error();
    ERR_clear_error();
    return e != 0 ? e : (unsigned long)-1;
}

/* A TLS 1.3 client that trusts the certificate alone. */
static int client_ctx(struct tls_world *w)
{
    w->cctx = tls_world_client_ctx(w);
    return w->cctx != NULL && SSL_CTX_set_min_proto_version(w->cctx, TLS1_3_VERSION) ? 0 : -EPROTO;
}

static void conn_close(struct conn *c)
{
    SSL_free(c->server.ssl);
    SSL_free(c->client.ssl);
    c->server.ssl = c->client.ssl = NULL;
}

/* A connection between the contexts, the client offering groups and sigalgs (NULL: defaults). */
static int conn_open(struct conn *c, const struct tls_world *w, const char *groups,
                     const char *sigalgs)
{
    memset(c, 0, sizeof(*c));
    c->server.server = true;
    c->server.len = c->client.len = MSG_BYTES;
    c->client.msg = message;
    if (tls_world_connect(w, PAIR_BYTES, &c->server.ssl, &c->client.ssl) != 0)
        return -EPROTO;
    if ((groups != NULL && !SSL_set1_groups_list(c->client.ssl, groups))
        || (sigalgs != NULL && !SSL_set1_sigalgs_list(c->client.ssl, sigalgs))) {
        t_print_errors("connect");
        conn_close(c);
        return -EPROTO;
    }
    rc_stats_total(&c->before);
    return 0;
}

/* ---- the groups ------------------------------------------------------------- */

/* The groups[] this release offers: which, and colon-separated for the server. */
static bool offered[N_OF(groups)];
static char offered_list[256];

static bool release_has_group(const char *group)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    bool has = ctx != NULL && SSL_CTX_set1_groups_list(ctx, group) == 1;

    ERR_clear_error();
    SSL_CTX_free(ctx);
    return has;
}

static void find_offered(void)
{
    size_t len = 0;

    for (size_t i = 0; i < N_OF(groups); i++) {
        offered[i] = release_has_group(groups[i]);
        if (!offered[i]) {
            printf("  %s: not offered by OpenSSL %s\n", groups[i],
                   OpenSSL_version(OPENSSL_VERSION_STRING));
            continue;
        }
        len += (size_t)snprintf(offered_list + len, sizeof(offered_list) - len, "%s%s",
                                len > 0 ? ":" : "", groups[i]);
    }
}

/* ---- scenarios -------------------------------------------------------------- */

struct refusal;

struct pq_case {
    char name[48];
    int (*run)(const struct pq_case *pc);
    const struct cert_kind *cert;
    const struct refusal *refusal;
    enum t_mode mode;
};

/* One connection over group: what both ends agreed on, the echo, the server's offloads. */
static void echo_with(const struct tls_world *w, const struct pq_case *pc, const char *group)
{
    char sgroup[NAME_LEN], ssig[NAME_LEN], cgroup[NAME_LEN], csig[NAME_LEN];
    struct rc_stats total;
    struct conn c;
    const char *what;
    int want = tls_key_exchange_offloads(group, &what) + pc->cert->offloads;
    uint64_t hs;

    if (conn_open(&c, w, group, NULL) != 0) {
        CHECK(false, "%s: no connection", group);
        return;
    }
    CHECK(pump(&c, pc->mode), "%s: still talking after %d ms", group, DEADLINE_MS);
    CHECK(!failed(&c), "%s: a failure", group);
    if (failed(&c)) {
        tls_failure_print("server", &c.server.fail);
        tls_failure_print("client", &c.client.fail);
        conn_close(&c);
        return;
    }
    tls_conn_names(c.server.ssl, false, sgroup, sizeof(sgroup), ssig, sizeof(ssig));
    tls_conn_names(c.client.ssl, true, cgroup, sizeof(cgroup), csig, sizeof(csig));
    CHECK(strcasecmp(sgroup, group) == 0 && strcasecmp(cgroup, group) == 0,
          "agreed on %s (server), %s (client), not %s", sgroup, cgroup, group);
    CHECK(strcmp(ssig, pc->cert->scheme) == 0 && strcmp(csig, pc->cert->scheme) == 0,
          "signed with %s (server), %s (client), not %s", ssig, csig, pc->cert->scheme);
    CHECK_EQ(SSL_get_verify_result(c.client.ssl), X509_V_OK);
    CHECK(memcmp(c.client.buf, message, MSG_BYTES) == 0, "%s: the echo differs", group);
    t_stats_since(&c.before, &total);
    hs = c.at_data.submitted - c.before.submitted;
    printf("  %s %s: group %s, signature %s; the handshake offloaded %llu (%s; signature),"
           " paused %llu times\n", pc->name, group, sgroup, ssig, (unsigned long long)hs,
           what, (unsigned long long)(c.at_data.paused - c.before.paused));
    CHECK(hs == (uint64_t)want, "%s: the handshake offloaded %llu, %d expected", group,
          (unsigned long long)hs, want);
    /* Every offload paused the server's job: its wake came in the mode's way. */
    CHECK(c.at_data.paused - c.before.paused >= hs, "%s: %llu pauses for %llu offloads", group,
          (unsigned long long)(c.at_data.paused - c.before.paused), (unsigned long long)hs);
    /* 16 KiB in records below the AEAD offload's threshold: the data offloads nothing. */
    CHECK(total.submitted == hs, "%s: %llu offloads after the handshake", group,
          (unsigned long long)(total.submitted - hs));
    CHECK_EQ(total.errors, 0);
    conn_close(&c);
}

/* The world of a certificate with both ends' contexts, and the counters from here on; 0 or -EPROTO. */
static int world_begin(struct tls_world *w, const char *key_type, struct rc_stats *before)
{
    rc_stats_total(before);
    if (tls_world_init(w, key_type) != 0) {
        CHECK(false, "no %s certificate", key_type);
        return -EPROTO;
    }
    CHECK_EQ(server_ctx(w), 0);
    CHECK_EQ(client_ctx(w), 0);
    return t_failures > 0 ? -EPROTO : 0;
}

static int run_echo(const struct pq_case *pc)
{
    struct rc_stats before, d;
    struct tls_world w;

    find_offered();
    if (world_begin(&w, pc->cert->key_type, &before) != 0)
        return world_end(&w, &before, &d);
    CHECK(SSL_CTX_set1_groups_list(w.sctx, offered_list), "server groups %s", offered_list);
    for (size_t i = 0; !t_failures && i < N_OF(groups); i++)
        if (offered[i])
            echo_with(&w, pc, groups[i]);
    return world_end(&w, &before, &d);
}

struct cert_job {
    struct tls_world *w;
    const char *key_type;
};

/* In a job: a certificate, made and signed in ringcrypt's library. */
static int make_cert(void *arg)
{
    struct cert_job *j = arg;

    return cert_make_self_signed(j->w->slib, j->key_type, &j->w->key, &j->w->cert);
}

/*
 * No TLS signature scheme: the release says so, libssl refuses the
 * certificate; its own SLH-DSA signature, made in a job, is offloaded once
 * (the key generation is not wrapped).
 */
static int run_no_scheme(const struct pq_case *pc)
{
    char why[128];
    struct rc_stats before, d;
    struct tls_world w = { 0 };
    unsigned long e;

    CHECK_EQ(cert_key_type_check(pc->cert->key_type, why, sizeof(why)), -ENOTSUP);
    printf("  %s: %s\n", pc->name, why);
    w.slib = t_provider_libctx();
    if (w.slib == NULL)
        return T_FAIL;
    rc_stats_total(&before);
    CHECK_EQ(t_run_job(pc->mode, make_cert, &(struct cert_job){ &w, pc->cert->key_type },
                       DEADLINE_MS), 0);
    t_stats_since(&before, &d);
    printf("  %s: the certificate's signature offloaded %llu\n", pc->name,
           (unsigned long long)d.submitted);
    CHECK_EQ(d.submitted, pc->cert->offloads);
    CHECK_EQ(d.errors, 0);
    e = w.cert != NULL ? server_ctx(&w) : 0;
    CHECK(e != 0 && ERR_GET_REASON(e) == SSL_R_UNKNOWN_CERTIFICATE_TYPE,
          "libssl took the certificate: %lx", e);
    return world_end(&w, &before, &d);
}

/* A refusal: the client offers groups and allows sigalgs; the server fails with reason. */
struct refusal {
    const char *name;
    const char *cert;
    const char *server_groups, *client_groups, *client_sigalgs;
    int reason;
    int offloads;        /* the server's before it refused */
};

static const struct refusal refusals[] = {
    /* The server refuses at the ClientHello, before any crypto. */
    { "group", "mldsa65", "X25519MLKEM768:SecP256r1MLKEM768", "MLKEM512", NULL,
      SSL_R_NO_SUITABLE_KEY_SHARE, 0 },
    /*
     * The server has parsed the key share when it finds no scheme for its
     * certificate: it never encapsulates nor signs, and the empty key made
     * to hold the share stays on the caller. Nothing is offloaded.
     */
    { "sigalg", "mldsa65", "X25519MLKEM768", "X25519MLKEM768",
      "ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256:ed25519",
      SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM, 0 },
};

static int run_refused(const struct pq_case *pc)
{
    const struct refusal *r = pc->refusal;
    struct rc_stats before, d;
    struct tls_world w;
    struct conn c;
    int rc;

    if (world_begin(&w, r->cert, &before) != 0)
        return world_end(&w, &before, &d);
    CHECK(SSL_CTX_set1_groups_list(w.sctx, r->server_groups), "server groups");
    if (conn_open(&c, &w, r->client_groups, r->client_sigalgs) == 0) {
        CHECK(pump(&c, pc->mode), "still talking after %d ms", DEADLINE_MS);
        CHECK(!c.server.handshaken && !c.client.handshaken, "a handshake was made");
        CHECK_EQ(c.server.fail.ssl_error, SSL_ERROR_SSL);
        CHECK(ERR_GET_REASON(c.server.fail.codes[0]) == r->reason, "the server failed with %s",
              ERR_reason_error_string(c.server.fail.codes[0]));
        CHECK(c.client.fail.ssl_error == SSL_ERROR_SSL, "the client was not told");
        printf("  %s: server: %s; client: %s\n", pc->name,
               ERR_reason_error_string(c.server.fail.codes[0]),
               ERR_reason_error_string(c.client.fail.codes[0]));
        conn_close(&c);
    }
    rc = world_end(&w, &before, &d);
    printf("  %s: offloaded %llu\n", pc->name, (unsigned long long)d.submitted);
    CHECK_EQ(d.submitted, r->offloads);
    return t_failures ? T_FAIL : rc;
}

/* ---- the table -------------------------------------------------------------- */

#define N_MODES 3
#define N_CASES ((N_OF(certs) + N_OF(refusals)) * N_MODES)

static struct pq_case cases[N_CASES];
static struct scenario scenarios[N_CASES + 1];
static const struct pq_case *current;
/* A loaded machine may keep a worker from a request for a while: no deadline may expire. */
static const char *const patient[] = { "RINGCRYPT_TIMEOUT_MS=60000", NULL };

static int run_current(void)
{
    return current->run(current);
}

static void build_cases(void)
{
    size_t n = 0;

    for (size_t k = 0; k < N_OF(certs); k++)
        for (int m = 0; m < N_MODES; m++, n++) {
            cases[n] = (struct pq_case){ .run = certs[k].scheme != NULL ? run_echo : run_no_scheme,
                                         .cert = &certs[k], .mode = m };
            snprintf(cases[n].name, sizeof(cases[n].name), "%s_%s", certs[k].key_type,
                     t_mode_names[m]);
        }
    for (size_t r = 0; r < N_OF(refusals); r++)
        for (int m = 0; m < N_MODES; m++, n++) {
            cases[n] = (struct pq_case){ .run = run_refused, .refusal = &refusals[r], .mode = m };
            snprintf(cases[n].name, sizeof(cases[n].name), "refused_%s_%s", refusals[r].name,
                     t_mode_names[m]);
        }
    for (size_t i = 0; i < n; i++)
        scenarios[i] = (struct scenario){ cases[i].name, run_current, patient };
}

int main(int argc, char **argv)
{
    int i;

    tls_world_message(message, sizeof(message));
    build_cases();
    i = argc > 1 ? t_scenario_index(scenarios, argv[1]) : -1;
    current = i >= 0 ? &cases[i] : NULL;
    return t_main_pq(argc, argv, scenarios);
}
