/*
 * Bad input to the post-quantum operations ringcrypt offloads (OpenSSL 3.5+):
 * ciphertexts one byte short or long to decapsulate, public keys one byte
 * short or long or with a coefficient at or above the modulus q (FIPS 203's
 * modulus check) to import, output buffers one byte too small for
 * encapsulation, decapsulation and signing, an ML-DSA key to an encapsulation
 * and an ML-KEM key to an ML-DSA signature, for ML-KEM-512/768/1024, the four
 * hybrid groups, ML-DSA-65 and SLH-DSA-SHA2-128f. Each case runs without a
 * job and inside an ASYNC job in core, callback and fd mode, and must come
 * out as on OpenSSL's default provider of the running release with the same
 * keys: refused (with an error queued, none of it the runtime's) or, for the
 * controls beside them, accepted with the right answer. A refusal writes to
 * the output only where the default provider does too (OpenSSL 3.5's ML-KEM
 * writes a secret as it refuses a ciphertext of the wrong length); where
 * ringcrypt writes nothing and the default provider something, it is said.
 *
 * A backend that does not answer: the only worker held at the gate, an
 * ML-KEM-768 encapsulation or an ML-DSA-65 signature behind it fails at its
 * deadline with ringcrypt's "timed out" error, its context then refuses
 * further use, and once the worker is free a new context works. And an
 * encapsulation whose job's wait ctx is freed while it is paused (as SSL_free
 * does) completes without waking anything, leaving no fd behind. ASan's
 * leak checker sees every case.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#if OPENSSL_VERSION_NUMBER >= 0x30500000L

#define JOB_TIMEOUT_MS 60000
#define SENTINEL 0x5A
#define MAX_CT 2048      /* X448MLKEM1024: 1624 */
#define MAX_PUB 2048     /* SecP384r1MLKEM1024: 1665 */
#define MAX_SECRET 128   /* the hybrids: 64 */
#define MAX_SIG 20000    /* SLH-DSA-SHA2-128f: 17088 */

enum key_id {
    K_MLKEM512, K_MLKEM768, K_MLKEM1024, K_X25519MLKEM768, K_X448MLKEM1024,
    K_P256MLKEM768, K_P384MLKEM1024, NKEMS,
    K_MLDSA65 = NKEMS, K_SLHDSA, NKEYS
};

static const char *const key_names[NKEYS] = {
    "ML-KEM-512", "ML-KEM-768", "ML-KEM-1024", "X25519MLKEM768", "X448MLKEM1024",
    "SecP256r1MLKEM768", "SecP384r1MLKEM1024", "ML-DSA-65", "SLH-DSA-SHA2-128f",
};

/* An encapsulation made at set-up, and the sizes of each KEM. */
struct kem_fixture {
    size_t ctlen, slen, publen;
    unsigned char ct[MAX_CT + 1], secret[MAX_SECRET], pub[MAX_PUB + 1];
};

/*
 * One library context and its keys: its own KEM keys and encapsulations to
 * them (EVP_PKEY_todata cannot export the EC hybrids' keys), the tested
 * side's signature keys, copied.
 */
struct side {
    OSSL_LIB_CTX *lib;
    EVP_PKEY *keys[NKEYS];
    struct kem_fixture fx[NKEMS];
    /* What the last case handed out (static: a job's stack is small). */
    unsigned char out[MAX_SIG], out2[MAX_SECRET];
    size_t outlen, out2len;
};

static struct side tested, ref;

static size_t sig_size[NKEYS];

/* ---- set-up ---------------------------------------------------------------- */

/* The key on the reference side: the tested side's, exported and imported. */
static EVP_PKEY *copy_key(EVP_PKEY *key, const char *name)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(ref.lib, name, NULL);
    OSSL_PARAM *params = NULL;
    EVP_PKEY *copy = NULL;

    if (ctx == NULL || EVP_PKEY_todata(key, EVP_PKEY_KEYPAIR, &params) <= 0
        || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &copy, EVP_PKEY_KEYPAIR, params) <= 0
        || EVP_PKEY_eq(copy, key) != 1) {
        EVP_PKEY_free(copy);
        copy = NULL;
    }
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return copy;
}

static bool make_fixture(struct side *s, int k)
{
    struct kem_fixture *f = &s->fx[k];
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(s->lib, s->keys[k], NULL);
    bool ok;

    f->ctlen = sizeof(f->ct) - 1;
    f->slen = sizeof(f->secret);
    ok = ctx != NULL && EVP_PKEY_encapsulate_init(ctx, NULL) > 0
         && EVP_PKEY_encapsulate(ctx, f->ct, &f->ctlen, f->secret, &f->slen) > 0
         && EVP_PKEY_get_octet_string_param(s->keys[k], OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                            f->pub, sizeof(f->pub) - 1, &f->publen);
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static bool setup(void)
{
    tested.lib = t_provider_libctx();
    ref.lib = t_reference_libctx();
    if (tested.lib == NULL || ref.lib == NULL)
        return false;
    for (int k = 0; k < NKEYS; k++) {
        tested.keys[k] = EVP_PKEY_Q_keygen(tested.lib, NULL, key_names[k]);
        if (k < NKEMS)
            ref.keys[k] = EVP_PKEY_Q_keygen(ref.lib, NULL, key_names[k]);
        else if (tested.keys[k] != NULL)
            ref.keys[k] = copy_key(tested.keys[k], key_names[k]);
        if (tested.keys[k] == NULL || ref.keys[k] == NULL
            || (k < NKEMS && (!make_fixture(&tested, k) || !make_fixture(&ref, k)))) {
            fprintf(stderr, "set-up of %s failed\n", key_names[k]);
            t_print_errors(key_names[k]);
            return false;
        }
        sig_size[k] = (size_t)EVP_PKEY_get_size(tested.keys[k]);
    }
    return true;
}

static void teardown(void)
{
    for (int k = 0; k < NKEYS; k++) {
        EVP_PKEY_free(tested.keys[k]);
        EVP_PKEY_free(ref.keys[k]);
    }
    t_provider_free(tested.lib);
    t_provider_free(ref.lib);
}

/* ---- cases ----------------------------------------------------------------- */

enum verdict {
    V_REFUSED,  /* failed, writing nothing */
    V_ACCEPTED, /* succeeded with the right answer */
    V_WRONG,    /* succeeded with a wrong answer */
    V_RELEASED, /* failed, but wrote to the output */
};

static const char *const verdict_names[] = {
    "refused", "accepted", "accepted with a wrong answer", "failed but wrote output",
};

struct pq_case {
    char name[96];
    enum verdict (*run)(const struct pq_case *c, struct side *s, long *calls);
    enum key_id key;
    long in_delta;      /* bytes added to (or taken from) the input */
    long out_delta;     /* bytes added to the output buffer */
    long secret_delta;  /* bytes added to encapsulation's secret buffer */
    bool corrupt;       /* the public key's first coefficient set to 2^12 - 1 */
    enum verdict expect;
};

static bool untouched(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != SENTINEL)
            return false;
    return true;
}

static enum verdict judge(bool ok, bool right, bool written)
{
    if (!ok)
        return written ? V_RELEASED : V_REFUSED;
    return right ? V_ACCEPTED : V_WRONG;
}

static EVP_PKEY_CTX *key_ctx(struct side *s, enum key_id k)
{
    return EVP_PKEY_CTX_new_from_pkey(s->lib, s->keys[k], NULL);
}

/* Decapsulates the set-up ciphertext, in_delta bytes longer, into a buffer out_delta longer. */
static enum verdict decapsulate(const struct pq_case *c, struct side *s, long *calls)
{
    const struct kem_fixture *f = &s->fx[c->key];
    EVP_PKEY_CTX *ctx = key_ctx(s, c->key);
    size_t size = f->slen + (size_t)c->out_delta;
    bool ok = false;

    memset(s->out, SENTINEL, sizeof(s->out));
    s->outlen = size;
    if (ctx != NULL && EVP_PKEY_decapsulate_init(ctx, NULL) > 0) {
        ++*calls;
        ok = EVP_PKEY_decapsulate(ctx, s->out, &s->outlen, f->ct,
                                  f->ctlen + (size_t)c->in_delta) > 0;
    }
    EVP_PKEY_CTX_free(ctx);
    return judge(ok, s->outlen == f->slen && memcmp(s->out, f->secret, f->slen) == 0,
                 !untouched(s->out, sizeof(s->out)));
}

/*
 * Encapsulates into buffers out_delta and secret_delta bytes longer than
 * needed, then decapsulates what it made: the secrets must agree. A key that
 * is no KEM's gets ML-KEM-768's buffers.
 */
static enum verdict encapsulate(const struct pq_case *c, struct side *s, long *calls)
{
    const struct kem_fixture *f = &s->fx[c->key < NKEMS ? c->key : K_MLKEM768];
    EVP_PKEY_CTX *ctx = key_ctx(s, c->key), *dctx = key_ctx(s, c->key);
    unsigned char secret[MAX_SECRET];
    size_t slen = sizeof(secret);
    bool ok = false, right = false;

    memset(s->out, SENTINEL, sizeof(s->out));
    memset(s->out2, SENTINEL, sizeof(s->out2));
    s->outlen = f->ctlen + (size_t)c->out_delta;
    s->out2len = f->slen + (size_t)c->secret_delta;
    if (ctx != NULL && EVP_PKEY_encapsulate_init(ctx, NULL) > 0) {
        ++*calls;
        ok = EVP_PKEY_encapsulate(ctx, s->out, &s->outlen, s->out2, &s->out2len) > 0;
    }
    if (ok && dctx != NULL && EVP_PKEY_decapsulate_init(dctx, NULL) > 0) {
        ++*calls;
        right = EVP_PKEY_decapsulate(dctx, secret, &slen, s->out, s->outlen) > 0
                && s->outlen == f->ctlen && slen == f->slen && s->out2len == f->slen
                && memcmp(secret, s->out2, slen) == 0;
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_CTX_free(dctx);
    return judge(ok, right, !untouched(s->out, sizeof(s->out))
                                || !untouched(s->out2, sizeof(s->out2)));
}

/* Imports the key's public part, in_delta bytes longer, or corrupt. */
static enum verdict import_public(const struct pq_case *c, struct side *s, long *calls)
{
    const struct kem_fixture *f = &s->fx[c->key];
    unsigned char pub[MAX_PUB + 1];
    OSSL_PARAM p[2] = { OSSL_PARAM_END, OSSL_PARAM_END };
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(s->lib, key_names[c->key], NULL);
    EVP_PKEY *key = NULL;
    bool ok;

    (void)calls;
    memcpy(pub, f->pub, sizeof(pub));
    if (c->corrupt) {
        /* FIPS 203's ByteEncode_12: coefficient 0 is byte 0 and the low nibble of byte 1. */
        pub[0] = 0xff;
        pub[1] |= 0x0f;
    }
    p[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub,
                                             f->publen + (size_t)c->in_delta);
    ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) > 0
         && EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, p) > 0;
    s->outlen = 0;
    if (ok && EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, s->out,
                                              sizeof(s->out), &s->outlen) != 1)
        s->outlen = 0;
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(ctx);
    return judge(ok, s->outlen == f->publen && memcmp(s->out, pub, f->publen) == 0, false);
}

/* Signs with the key, deterministically, into a buffer out_delta longer than a signature. */
static enum verdict sign(const struct pq_case *c, struct side *s, long *calls)
{
    static const unsigned char msg[] = "post-quantum, offloaded";
    enum key_id alg = c->key == K_SLHDSA ? K_SLHDSA : K_MLDSA65;
    EVP_SIGNATURE *sa = EVP_SIGNATURE_fetch(s->lib, key_names[alg], NULL);
    EVP_PKEY_CTX *ctx = key_ctx(s, c->key), *vctx = NULL;
    int deterministic = 1;
    OSSL_PARAM p[2] = { OSSL_PARAM_END, OSSL_PARAM_END };
    bool ok = false, right = false;

    p[0] = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_DETERMINISTIC, &deterministic);
    memset(s->out, SENTINEL, sizeof(s->out));
    s->outlen = sig_size[alg] + (size_t)c->out_delta;
    if (sa != NULL && ctx != NULL && EVP_PKEY_sign_message_init(ctx, sa, p) > 0) {
        ++*calls;
        ok = EVP_PKEY_sign(ctx, s->out, &s->outlen, msg, sizeof(msg)) > 0;
    }
    if (ok) {
        vctx = key_ctx(s, c->key);
        right = vctx != NULL && EVP_PKEY_verify_message_init(vctx, sa, NULL) > 0
                && EVP_PKEY_verify(vctx, s->out, s->outlen, msg, sizeof(msg)) > 0;
    }
    EVP_PKEY_CTX_free(vctx);
    EVP_PKEY_CTX_free(ctx);
    EVP_SIGNATURE_free(sa);
    return judge(ok, right, !ok && !untouched(s->out, sizeof(s->out)));
}

#define KEM_CASES 8
#define SIG_CASES 4

static size_t kem_cases(struct pq_case *out, enum key_id k)
{
    const struct pq_case cases[KEM_CASES] = {
        { .run = encapsulate, .expect = V_ACCEPTED },
        { .run = decapsulate, .expect = V_ACCEPTED },
        { .run = decapsulate, .in_delta = -1 },
        { .run = decapsulate, .in_delta = 1 },
        { .run = decapsulate, .out_delta = -1 },
        { .run = encapsulate, .out_delta = -1 },
        { .run = encapsulate, .secret_delta = -1 },
        { .run = import_public, .in_delta = -1 },
    };
    static const char *const what[KEM_CASES] = {
        "encapsulate (control)", "decapsulate (control)", "decapsulate, ciphertext one byte short",
        "decapsulate, ciphertext one byte long", "decapsulate, secret buffer one byte short",
        "encapsulate, ciphertext buffer one byte short",
        "encapsulate, secret buffer one byte short",
        "public key one byte short",
    };

    for (int i = 0; i < KEM_CASES; i++) {
        out[i] = cases[i];
        out[i].key = k;
        snprintf(out[i].name, sizeof(out[i].name), "%s %s", key_names[k], what[i]);
    }
    return KEM_CASES;
}

static const struct pq_case fixed_cases[] = {
    { "ML-KEM-768 public key (control)", import_public, K_MLKEM768, .expect = V_ACCEPTED },
    { "ML-KEM-768 public key one byte long", import_public, K_MLKEM768, .in_delta = 1 },
    { "X25519MLKEM768 public key one byte long", import_public, K_X25519MLKEM768, .in_delta = 1 },
    { "ML-KEM-512 public key, a coefficient >= q", import_public, K_MLKEM512, .corrupt = true },
    { "ML-KEM-768 public key, a coefficient >= q", import_public, K_MLKEM768, .corrupt = true },
    { "ML-KEM-1024 public key, a coefficient >= q", import_public, K_MLKEM1024, .corrupt = true },
    { "ML-DSA-65 sign (control)", sign, K_MLDSA65, .expect = V_ACCEPTED },
    { "ML-DSA-65 sign, signature buffer one byte short", sign, K_MLDSA65, .out_delta = -1 },
    { "SLH-DSA-SHA2-128f sign (control)", sign, K_SLHDSA, .expect = V_ACCEPTED },
    { "SLH-DSA-SHA2-128f sign, signature buffer one byte short", sign, K_SLHDSA, .out_delta = -1 },
    { "ML-DSA-65 key to encapsulate", encapsulate, K_MLDSA65, .expect = V_REFUSED },
    { "ML-KEM-768 key to ML-DSA-65 sign", sign, K_MLKEM768, .expect = V_REFUSED },
};
#define NFIXED (sizeof(fixed_cases) / sizeof(fixed_cases[0]))
#define MAX_CASES (NFIXED + NKEMS * KEM_CASES)

/* What a stuck backend holds. */
static const struct pq_case encaps768 = { "ML-KEM-768 encapsulate", encapsulate, K_MLKEM768,
                                          .expect = V_ACCEPTED };
static const struct pq_case sign65 = { "ML-DSA-65 sign", sign, K_MLDSA65, .expect = V_ACCEPTED };

/* ---- running a case ------------------------------------------------------ */

struct attempt {
    const struct pq_case *c;
    struct side *side;
    enum verdict v;
    long calls;
    bool queued;    /* errors were queued */
    bool runtime;   /* of them, the runtime's own */
};

static int attempt_case(void *arg)
{
    struct attempt *a = arg;

    ERR_clear_error();
    a->calls = 0;
    a->v = a->c->run(a->c, a->side, &a->calls);
    a->queued = ERR_peek_error() != 0;
    a->runtime = t_drain_errors(false);
    return 0;
}

static void run_case(const struct pq_case *c, int mode)
{
    struct attempt a = { .c = c, .side = &tested }, r = { .c = c, .side = &ref };
    struct rc_stats before, delta;
    const char *m = t_job_mode_name(mode);

    attempt_case(&r);
    rc_stats_total(&before);
    CHECK_EQ(t_run_job(mode, attempt_case, &a, JOB_TIMEOUT_MS), 0);
    t_stats_since(&before, &delta);
    CHECK(r.v == c->expect || (c->expect == V_REFUSED && r.v == V_RELEASED),
          "%s: %s on OpenSSL %s's default provider, expected %s", c->name, verdict_names[r.v],
          OpenSSL_version(OPENSSL_VERSION_STRING), verdict_names[c->expect]);
    CHECK(a.v == r.v || (a.v == V_REFUSED && r.v == V_RELEASED),
          "[%s] %s: %s, the default provider %s", m, c->name, verdict_names[a.v],
          verdict_names[r.v]);
    if (a.v == V_REFUSED && r.v == V_RELEASED)
        printf("  [%s] %s: refused without writing; OpenSSL %s's default provider writes as it"
               " fails\n", m, c->name, OpenSSL_version(OPENSSL_VERSION_STRING));
    CHECK(!a.runtime, "[%s] %s: the runtime raised an error", m, c->name);
    if (r.v != V_ACCEPTED)
        CHECK(a.queued || !r.queued, "[%s] %s: refused with no error queued", m, c->name);
    else
        CHECK(!a.queued, "[%s] %s: errors queued on success", m, c->name);
    /* A deterministic signature: the same bytes. */
    if (c->run == sign && a.v == V_ACCEPTED)
        CHECK(a.side->outlen == r.side->outlen
              && memcmp(a.side->out, r.side->out, r.side->outlen) == 0,
              "[%s] %s: not the default provider's signature", m, c->name);
    if (!t_provider_is_ours())
        return;
    /* What refuses the key or its size at init never reaches the runtime. */
    if (mode == T_NO_JOB || a.calls == 0)
        CHECK(delta.submitted == 0, "[%s] %s: %llu submitted", m, c->name,
              (unsigned long long)delta.submitted);
    if (mode != T_NO_JOB && a.v == V_ACCEPTED)
        CHECK(delta.submitted == (uint64_t)a.calls, "[%s] %s: %llu submitted for %ld calls", m,
              c->name, (unsigned long long)delta.submitted, a.calls);
}

static const int modes[] = { T_NO_JOB, T_CORE, T_CALLBACK, T_FD };

static int all_modes(void)
{
    static struct pq_case cases[MAX_CASES];
    size_t n = NFIXED;

    if (!setup()) {
        teardown();
        return T_FAIL;
    }
    memcpy(cases, fixed_cases, sizeof(fixed_cases));
    for (int k = 0; k < NKEMS; k++)
        n += kem_cases(cases + n, (enum key_id)k);
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        for (size_t i = 0; i < n; i++)
            run_case(&cases[i], modes[m]);
        printf("  [%s] %zu cases, each as on OpenSSL %s's default provider\n",
               t_job_mode_name(modes[m]), n, OpenSSL_version(OPENSSL_VERSION_STRING));
    }
    teardown();
    return t_failures ? T_FAIL : T_PASS;
}

/* ---- a backend that does not answer ------------------------------------- */

static _Atomic int held_released;

/* Pops the queue: whether ringcrypt raised reason. */
static bool raised(const char *reason)
{
    bool found;

    t_pop_errors(NULL, "ringcrypt", reason, &found);
    return found;
}

struct stuck {
    const struct pq_case *c;
    EVP_PKEY_CTX *ctx;
    enum verdict first, again;
    bool timed_out, unusable;
};

/* The stuck case's call, on its own context s->ctx (made outside the job). */
static bool stuck_call(struct stuck *s)
{
    size_t ctlen = tested.fx[K_MLKEM768].ctlen, slen = tested.fx[K_MLKEM768].slen;
    static const unsigned char msg[] = "stuck";

    tested.outlen = sizeof(tested.out);
    if (s->c->run == encapsulate)
        return EVP_PKEY_encapsulate(s->ctx, tested.out, &ctlen, tested.out2, &slen) > 0;
    return EVP_PKEY_sign(s->ctx, tested.out, &tested.outlen, msg, sizeof(msg)) > 0;
}

/* Job 0 holds the only worker; job 1 calls behind it, twice unless it is abandoned. */
static int stuck_body(struct t_job *j)
{
    struct stuck *s = j->arg;

    if (j->index == 0)
        return t_offload(&(struct t_offload_args){ .fn = t_work_blocked,
                                                   .released = &held_released });
    ERR_clear_error();
    s->first = stuck_call(s) ? V_ACCEPTED : V_REFUSED;
    s->timed_out = raised("timed out");
    s->again = stuck_call(s) ? V_ACCEPTED : V_REFUSED;
    s->unusable = raised("context unusable");
    return 0;
}

static EVP_PKEY_CTX *init_ctx(const struct pq_case *c)
{
    EVP_PKEY_CTX *ctx = key_ctx(&tested, c->key);
    EVP_SIGNATURE *sa = NULL;
    bool ok;

    if (ctx == NULL)
        return NULL;
    if (c->run == encapsulate) {
        ok = EVP_PKEY_encapsulate_init(ctx, NULL) > 0;
    } else {
        sa = EVP_SIGNATURE_fetch(tested.lib, key_names[c->key], NULL);
        ok = sa != NULL && EVP_PKEY_sign_message_init(ctx, sa, NULL) > 0;
    }
    EVP_SIGNATURE_free(sa);
    if (!ok) {
        EVP_PKEY_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

/*
 * The only worker held at the closed gate by job 0, job 1 (running
 * stuck_body on s) paused in its call behind it.
 */
static void hold_worker_then_call(struct t_driver *d, enum t_mode mode, struct t_job *jobs,
                                  struct stuck *s)
{
    atomic_store(&held_released, 0);
    t_gate_close();
    CHECK_EQ(t_driver_init(d, mode, jobs, 2, stuck_body, s), 0);
    CHECK_EQ(t_job_step(&jobs[0]), ASYNC_PAUSE);
    CHECK_EQ(t_gate_wait_held(1), 1);
    CHECK_EQ(t_job_step(&jobs[1]), ASYNC_PAUSE);
}

/* A new context works: the worker runs requests in order, so the stuck one is gone after it. */
static void next_call_works(const struct pq_case *c, int mode)
{
    struct attempt next = { .c = c, .side = &tested };

    CHECK_EQ(t_run_job(mode, attempt_case, &next, JOB_TIMEOUT_MS), 0);
    CHECK(next.v == V_ACCEPTED && !next.queued, "[%s] %s on a new context: %s",
          t_job_mode_name(mode), c->name, verdict_names[next.v]);
}

static void dead_backend(const struct pq_case *c, enum t_mode mode)
{
    struct stuck s = { .c = c };
    struct t_job jobs[2];
    struct t_driver d;
    struct rc_stats before, delta;
    const char *m = t_mode_names[mode];

    s.ctx = init_ctx(c);
    CHECK(s.ctx != NULL, "[%s] %s: no context", m, c->name);
    if (s.ctx == NULL)
        return;
    rc_stats_total(&before);
    hold_worker_then_call(&d, mode, jobs, &s);
    if (t_failures > 0) {
        t_gate_open();
        EVP_PKEY_CTX_free(s.ctx);
        return;
    }
    CHECK_EQ(t_driver_loop(&d, jobs, 2, JOB_TIMEOUT_MS), 0);
    t_stats_since(&before, &delta);
    CHECK_EQ(jobs[0].ret, -ETIMEDOUT);
    CHECK(s.first == V_REFUSED, "[%s] %s past its deadline: %s", m, c->name,
          verdict_names[s.first]);
    CHECK(s.timed_out, "[%s] %s: no ringcrypt \"timed out\" error queued", m, c->name);
    CHECK(s.again == V_REFUSED && s.unusable,
          "[%s] %s again on the same context: %s, %s\"context unusable\" error", m, c->name,
          verdict_names[s.again], s.unusable ? "" : "no ");
    CHECK(delta.timeouts == 2, "[%s] %s: %llu deadlines expired", m, c->name,
          (unsigned long long)delta.timeouts);
    t_gate_open();
    CHECK_EQ(t_wait_released(&held_released, 1, d.core), 1);
    t_driver_fini(&d, jobs, 2);
    next_call_works(c, mode);
    EVP_PKEY_CTX_free(s.ctx);
}

/* T_PASS when set up for a scenario that needs the runtime. */
static int begin_runtime(void)
{
    if (!t_provider_is_ours()) {
        fprintf(stderr, "the reference provider offloads nothing\n");
        return T_SKIP;
    }
    if (setup())
        return T_PASS;
    teardown();
    return T_FAIL;
}

static int dead_backends(void)
{
    struct rc_info info;
    int rc = begin_runtime();

    if (rc != T_PASS)
        return rc;
    CHECK(rc_info(&info) == 0 && info.workers == 1, "needs RINGCRYPT_WORKERS=1");
    for (int mode = T_CORE; mode <= T_FD && t_failures == 0; mode++) {
        dead_backend(&encaps768, (enum t_mode)mode);
        dead_backend(&sign65, (enum t_mode)mode);
    }
    teardown();
    return t_failures ? T_FAIL : T_PASS;
}

/* ---- a wait ctx freed under a paused encapsulation --------------------- */

static struct t_job abandoned[2]; /* static: an abandoned job stays reachable, as in libssl */

static int freed_while_paused(void)
{
    struct stuck s = { .c = &encaps768 };
    struct rc_stats before, delta;
    struct t_driver d;
    long start;
    int fds, rc = begin_runtime();

    if (rc != T_PASS)
        return rc;
    s.ctx = init_ctx(&encaps768);
    CHECK(s.ctx != NULL, "no encapsulation context");
    CHECK_EQ(rc_init(), 0); /* the workers' rings and doorbells are not the point */
    fds = t_count_fds();
    rc_stats_total(&before);
    if (t_failures == 0)
        hold_worker_then_call(&d, T_FD, abandoned, &s);
    if (t_failures > 0)
        goto out;
    t_job_abandon(&abandoned[1]);
    t_gate_open();
    CHECK_EQ(t_driver_loop(&d, abandoned, 2, JOB_TIMEOUT_MS), 0);
    CHECK_EQ(abandoned[0].ret, 0);
    start = t_now_ms();
    do {
        t_stats_since(&before, &delta);
    } while (delta.completed < 2 && t_now_ms() - start < JOB_TIMEOUT_MS && usleep(1000) == 0);
    CHECK_EQ(delta.submitted, 2);
    CHECK_EQ(delta.completed, 2);
    CHECK_EQ(delta.errors, 0);
    CHECK_EQ(abandoned[1].wakes, 0);
    CHECK_EQ(t_wait_released(&held_released, 1, NULL), 1);
    t_driver_fini(&d, abandoned, 2);
    next_call_works(&encaps768, T_FD);
    /*
     * The abandoned job's eventfd went with its wait ctx; the last one's goes
     * when the worker lets go of its request, which may be after its job ended.
     */
    for (start = t_now_ms(); t_count_fds() != fds && t_now_ms() - start < 20000;)
        usleep(1000);
    CHECK_EQ(t_count_fds(), fds);
out:
    EVP_PKEY_CTX_free(s.ctx);
    teardown();
    return t_failures ? T_FAIL : T_PASS;
}

/* ---- back-pressure --------------------------------------------------------- */

#define PRESSED_JOBS 16

/* One job's own encapsulation to the ML-KEM-768 key and its decapsulation: the secrets agree. */
static int encaps_and_back(struct t_job *j)
{
    EVP_PKEY_CTX *ctx = key_ctx(&tested, j->index % 2 ? K_MLKEM768 : K_X25519MLKEM768);
    unsigned char ct[MAX_PUB], ss[MAX_SECRET], back[MAX_SECRET];
    size_t ctlen = sizeof(ct), sslen = sizeof(ss), backlen = sizeof(back);
    bool ok = ctx != NULL && EVP_PKEY_encapsulate_init(ctx, NULL) > 0
              && EVP_PKEY_encapsulate(ctx, ct, &ctlen, ss, &sslen) > 0
              && EVP_PKEY_decapsulate_init(ctx, NULL) > 0
              && EVP_PKEY_decapsulate(ctx, back, &backlen, ct, ctlen) > 0 && backlen == sslen
              && memcmp(back, ss, sslen) == 0;

    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : -EPROTO;
}

/*
 * Two slots for sixteen jobs, each with two KEM calls: the calls beyond the
 * limit are told to wait (EAGAIN) and retried, in each mode; every secret
 * agrees, nothing fails, and each call was one offload.
 */
static int back_pressure(void)
{
    int rc = begin_runtime();

    if (rc != T_PASS)
        return rc;
    for (int mode = T_CORE; mode <= T_FD; mode++) {
        struct t_job jobs[PRESSED_JOBS];
        struct rc_stats before, delta;
        struct t_driver d;

        rc_stats_total(&before);
        CHECK_EQ(t_driver_init(&d, (enum t_mode)mode, jobs, PRESSED_JOBS, encaps_and_back, NULL),
                 0);
        CHECK_EQ(t_driver_run(&d, jobs, PRESSED_JOBS, JOB_TIMEOUT_MS), 0);
        for (int i = 0; i < PRESSED_JOBS; i++)
            CHECK(jobs[i].finished && jobs[i].ret == 0, "[%s] job %d: %d", t_mode_names[mode], i,
                  jobs[i].ret);
        t_driver_fini(&d, jobs, PRESSED_JOBS);
        t_stats_since(&before, &delta);
        printf("  [%s] %d jobs, 2 slots: %llu offloads, %llu told to wait\n", t_mode_names[mode],
               PRESSED_JOBS, (unsigned long long)delta.submitted,
               (unsigned long long)delta.eagain);
        CHECK_EQ(delta.submitted, 2 * PRESSED_JOBS);
        CHECK(delta.eagain > 0, "[%s] no call was told to wait", t_mode_names[mode]);
        CHECK_EQ(delta.errors, 0);
    }
    teardown();
    return t_failures ? T_FAIL : T_PASS;
}

static const char *const two_slots[] = { "RINGCRYPT_MAX_INFLIGHT=2", "RINGCRYPT_WORKERS=1",
                                         "RINGCRYPT_TIMEOUT_MS=60000", NULL };

/* Time enough for a worker to take the held request, even under a sanitizer. */
static const char *const one_worker[] = { "RINGCRYPT_WORKERS=1", "RINGCRYPT_TIMEOUT_MS=3000",
                                          NULL };
static const char *const one_worker_long[] = { "RINGCRYPT_WORKERS=1",
                                               "RINGCRYPT_TIMEOUT_MS=60000", NULL };

#endif

static const struct scenario scenarios[] = {
#if OPENSSL_VERSION_NUMBER >= 0x30500000L
    { "all_modes", all_modes, NULL },
    { "dead_backend", dead_backends, one_worker },
    { "fd_freed_while_paused", freed_while_paused, one_worker_long },
    { "back_pressure", back_pressure, two_slots },
#endif
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main_pq(argc, argv, scenarios);
}
