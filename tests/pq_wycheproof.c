/*
 * Wycheproof's ML-KEM and ML-DSA vectors through the ringcrypt provider
 * alone: ML-KEM decapsulation with keys generated from the vectors' seeds
 * (implicit rejection included: a bad ciphertext of the right length
 * decapsulates to the secret the vector gives), ML-KEM-768 encapsulation with
 * the vectors' entropy (OSSL_KEM_PARAM_IKME; keys whose coefficients reach
 * the modulus must not import), ML-DSA signing from seed (deterministic, or
 * with the vector's randomness as test entropy; with a context string; over
 * an external mu), ML-DSA-65 verification.
 *
 * One scenario per file; each runs every vector without a job and inside an
 * ASYNC job in core, callback and fd mode. In every mode the answer (success,
 * and the secret, ciphertext or signature) must be byte for byte the default
 * provider's of the running release, in a library context of its own; and
 * the file's verdict must hold, save where the release itself answers
 * otherwise: those vectors are printed, and the release's answer is the
 * expected one. Inside a job every key generation, encapsulation,
 * decapsulation and signature must have been submitted to the runtime, and
 * without one counted as run inline; verification stays on the caller. An
 * error of the runtime is never taken for a refusal.
 *
 * Signing and verification go through the message API (EVP_PKEY_sign and
 * EVP_PKEY_verify) and the one-shot EVP_DigestSign and EVP_DigestVerify, in
 * turn by tcId.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "json.h"

#if OPENSSL_VERSION_NUMBER >= 0x30500000L

#define FILE_TIMEOUT_MS 300000
#define MAX_REPORTS 20 /* failures printed per file and mode; every one is counted */
#define MAX_OUT 8192   /* an ML-KEM-1024 ciphertext and secret; an ML-DSA-87 signature */
#define MAX_PUB 2592   /* ML-DSA-87 */

/* What one vector comes to on one provider. */
struct answer {
    bool ok;             /* the operation succeeded */
    bool random;         /* another run gave other bytes: only success is compared */
    bool pub_matches;    /* the key generated from the seed has the vector's public key */
    size_t n;
    unsigned char out[MAX_OUT]; /* the secret; ciphertext || secret; the signature */
};

struct vec {
    const struct json *g, *t;
    const char *alg;
    long id;
};

struct suite {
    const char *file;
    /* Computes v on lib; false if the vector cannot be read. *calls counts the expensive ones. */
    bool (*run)(const struct vec *v, OSSL_LIB_CTX *lib, struct answer *a, long *calls);
    /* The vector's members that make up a valid vector's answer, in order. */
    const char *want[2];
    bool cheap;                /* nothing to offload: verification */
};

struct file_run {
    const struct suite *s;
    OSSL_LIB_CTX *lib;         /* ringcrypt alone */
    const struct json *root;
    const struct answer *refs; /* the default provider's answers, in the file's order */
    int mode;
    long calls;                /* expensive calls made through ringcrypt */
    int reports;
};

static void report(struct file_run *fr, const struct vec *v, const char *why)
{
    t_failures++;
    if (fr->reports++ >= MAX_REPORTS)
        return;
    fprintf(stderr, "FAIL %s tcId %ld [%s]: %s\n", fr->s->file, v->id, t_job_mode_name(fr->mode),
            why);
}

/* ---- keys ------------------------------------------------------------------ */

/*
 * A key of type alg generated from seed (param: the type's seed parameter).
 * calls, if not NULL, counts the generation: ringcrypt offloads ML-KEM's, not
 * ML-DSA's.
 */
static EVP_PKEY *from_seed(OSSL_LIB_CTX *lib, const char *alg, const char *param,
                           const struct json_bytes *seed, long *calls)
{
    OSSL_PARAM p[2] = { OSSL_PARAM_END, OSSL_PARAM_END };
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(lib, alg, NULL);
    EVP_PKEY *key = NULL;

    p[0] = OSSL_PARAM_construct_octet_string(param, seed->p, seed->n);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 || !EVP_PKEY_CTX_set_params(ctx, p))
        goto out;
    if (calls != NULL)
        ++*calls;
    if (EVP_PKEY_generate(ctx, &key) <= 0)
        key = NULL;
out:
    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* Whether key's public key is the vector's (or the vector gives none). */
static bool public_is(const EVP_PKEY *key, const struct json *obj, const char *member)
{
    unsigned char pub[MAX_PUB];
    struct json_bytes want;
    size_t n = 0;
    bool same;

    if (json_get(obj, member) == NULL)
        return true;
    if (!json_hex_field(obj, member, &want))
        return false;
    same = EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &n)
           && json_bytes_eq(pub, n, &want);
    free(want.p);
    return same;
}

static EVP_PKEY *public_key(OSSL_LIB_CTX *lib, const char *alg, const struct json *obj,
                            const char *member)
{
    struct json_bytes pub;
    EVP_PKEY *key;

    if (!json_hex_field(obj, member, &pub))
        return NULL;
    key = EVP_PKEY_new_raw_public_key_ex(lib, alg, NULL, pub.p, pub.n);
    free(pub.p);
    return key;
}

/* ---- ML-KEM ------------------------------------------------------------------ */

/* Decapsulates c with the key generated from seed: the secret, K, or a refusal. */
static bool decaps(const struct vec *v, OSSL_LIB_CTX *lib, struct answer *a, long *calls)
{
    static const char *const names[] = { "seed", "c" };
    struct json_bytes f[2];
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key;

    if (!json_hex_fields(v->t, names, 2, f))
        return false;
    key = from_seed(lib, v->alg, OSSL_PKEY_PARAM_ML_KEM_SEED, &f[0], calls);
    if (key == NULL)
        goto out;
    a->pub_matches = public_is(key, v->t, "ek");
    ctx = EVP_PKEY_CTX_new_from_pkey(lib, key, NULL);
    if (ctx == NULL || EVP_PKEY_decapsulate_init(ctx, NULL) <= 0)
        goto out;
    a->n = sizeof(a->out);
    ++*calls;
    a->ok = EVP_PKEY_decapsulate(ctx, a->out, &a->n, f[1].p, f[1].n) > 0;
out:
    if (!a->ok)
        a->n = 0;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(key);
    json_free_fields(f, 2);
    return true;
}

/* Encapsulates to ek with entropy m: ciphertext || secret, or a refusal (ek does not import). */
static bool encaps(const struct vec *v, OSSL_LIB_CTX *lib, struct answer *a, long *calls)
{
    OSSL_PARAM p[2] = { OSSL_PARAM_END, OSSL_PARAM_END };
    EVP_PKEY *key = public_key(lib, v->alg, v->t, "ek");
    EVP_PKEY_CTX *ctx = NULL;
    struct json_bytes m;
    size_t clen = MAX_OUT / 2, klen = MAX_OUT / 2;

    if (!json_hex_field(v->t, "m", &m)) {
        EVP_PKEY_free(key);
        return false;
    }
    p[0] = OSSL_PARAM_construct_octet_string(OSSL_KEM_PARAM_IKME, m.p, m.n);
    if (key == NULL || (ctx = EVP_PKEY_CTX_new_from_pkey(lib, key, NULL)) == NULL
        || EVP_PKEY_encapsulate_init(ctx, p) <= 0)
        goto out;
    ++*calls;
    if (EVP_PKEY_encapsulate(ctx, a->out, &clen, a->out + MAX_OUT / 2, &klen) <= 0)
        goto out;
    memmove(a->out + clen, a->out + MAX_OUT / 2, klen);
    a->n = clen + klen;
    a->ok = true;
out:
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(key);
    free(m.p);
    return true;
}

/* ---- ML-DSA ------------------------------------------------------------------ */

/*
 * The signature parameters of vector t: its context string, its randomness
 * as test entropy (else deterministic), an external mu in place of msg.
 */
struct sig_params {
    struct json_bytes ctx, rnd, msg;
    int deterministic, mu;
    OSSL_PARAM p[4];
};

static bool sig_params(const struct json *t, struct sig_params *s)
{
    OSSL_PARAM *p = s->p;

    memset(s, 0, sizeof(*s));
    s->mu = json_get(t, "msg") == NULL;
    if (!json_hex_field(t, s->mu ? "mu" : "msg", &s->msg))
        return false;
    if (json_get(t, "ctx") != NULL) {
        if (!json_hex_field(t, "ctx", &s->ctx))
            return false;
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_CONTEXT_STRING, s->ctx.p,
                                                 s->ctx.n);
    }
    if (json_get(t, "rnd") != NULL) {
        if (!json_hex_field(t, "rnd", &s->rnd))
            return false;
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_TEST_ENTROPY, s->rnd.p,
                                                 s->rnd.n);
    } else {
        s->deterministic = 1;
        *p++ = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_DETERMINISTIC, &s->deterministic);
    }
    if (s->mu)
        *p++ = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_MU, &s->mu);
    *p = OSSL_PARAM_construct_end();
    return true;
}

static void sig_params_free(struct sig_params *s)
{
    free(s->ctx.p);
    free(s->rnd.p);
    free(s->msg.p);
}

/* ML-DSA has no plain sign_init: EVP_PKEY_sign follows the message API's init. */
enum sig_api { API_MESSAGE, API_DIGEST, APIS };

/* Signs (or verifies, sig given) s->msg with key by api. */
static void sig_call(OSSL_LIB_CTX *lib, const char *alg, EVP_PKEY *key, enum sig_api api,
                     struct sig_params *s, struct answer *a, const struct json_bytes *sig,
                     long *calls)
{
    EVP_SIGNATURE *sa = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_MD_CTX *md = NULL;
    int ok = 0;

    a->n = sizeof(a->out);
    if (api == API_DIGEST) {
        md = EVP_MD_CTX_new();
        if (md == NULL)
            goto out;
        ok = sig == NULL ? EVP_DigestSignInit_ex(md, NULL, NULL, lib, NULL, key, s->p)
                         : EVP_DigestVerifyInit_ex(md, NULL, NULL, lib, NULL, key, s->p);
        if (ok <= 0)
            goto out;
        *calls += sig == NULL;
        ok = sig == NULL ? EVP_DigestSign(md, a->out, &a->n, s->msg.p, s->msg.n)
                         : EVP_DigestVerify(md, sig->p, sig->n, s->msg.p, s->msg.n);
        goto out;
    }
    ctx = EVP_PKEY_CTX_new_from_pkey(lib, key, NULL);
    sa = EVP_SIGNATURE_fetch(lib, alg, NULL);
    if (ctx == NULL || sa == NULL)
        goto out;
    ok = sig == NULL ? EVP_PKEY_sign_message_init(ctx, sa, s->p)
                     : EVP_PKEY_verify_message_init(ctx, sa, s->p);
    if (ok <= 0)
        goto out;
    *calls += sig == NULL;
    ok = sig == NULL ? EVP_PKEY_sign(ctx, a->out, &a->n, s->msg.p, s->msg.n)
                     : EVP_PKEY_verify(ctx, sig->p, sig->n, s->msg.p, s->msg.n);
out:
    a->ok = ok > 0;
    if (!a->ok || sig != NULL)
        a->n = 0;
    EVP_MD_CTX_free(md);
    EVP_PKEY_CTX_free(ctx);
    EVP_SIGNATURE_free(sa);
}

/* An external mu goes through the message API, which takes it. */
static enum sig_api api_for(const struct vec *v, const struct sig_params *s)
{
    return s->mu ? API_MESSAGE : (enum sig_api)(v->id % APIS);
}

/* Signs with the key generated from the group's seed. */
static bool sign_seed(const struct vec *v, OSSL_LIB_CTX *lib, struct answer *a, long *calls)
{
    struct json_bytes seed;
    struct sig_params s;
    EVP_PKEY *key = NULL;
    bool read = sig_params(v->t, &s) && json_hex_field(v->g, "privateSeed", &seed);

    if (read) {
        key = from_seed(lib, v->alg, OSSL_PKEY_PARAM_ML_DSA_SEED, &seed, NULL);
        free(seed.p);
    }
    if (key != NULL) {
        a->pub_matches = public_is(key, v->g, "publicKey");
        sig_call(lib, v->alg, key, api_for(v, &s), &s, a, NULL, calls);
    }
    EVP_PKEY_free(key);
    sig_params_free(&s);
    return read;
}

/* Verifies sig with the group's public key: accepted or refused, no bytes. */
static bool verify(const struct vec *v, OSSL_LIB_CTX *lib, struct answer *a, long *calls)
{
    struct json_bytes sig;
    struct sig_params s;
    EVP_PKEY *key;
    bool read = sig_params(v->t, &s) && json_hex_field(v->t, "sig", &sig);

    if (!read) {
        sig_params_free(&s);
        return false;
    }
    key = public_key(lib, v->alg, v->g, "publicKey");
    if (key != NULL)
        sig_call(lib, v->alg, key, api_for(v, &s), &s, a, &sig, calls);
    EVP_PKEY_free(key);
    free(sig.p);
    sig_params_free(&s);
    return true;
}

/* ---- running a file ---------------------------------------------------------- */

static const struct suite suites[] = {
    { .file = "mlkem_512_test.json", .run = decaps, .want = { "K" } },
    { .file = "mlkem_768_test.json", .run = decaps, .want = { "K" } },
    { .file = "mlkem_1024_test.json", .run = decaps, .want = { "K" } },
    { .file = "mlkem_768_encaps_test.json", .run = encaps, .want = { "c", "K" } },
    { .file = "mldsa_44_sign_seed_test.json", .run = sign_seed, .want = { "sig" } },
    { .file = "mldsa_65_sign_seed_test.json", .run = sign_seed, .want = { "sig" } },
    { .file = "mldsa_87_sign_seed_test.json", .run = sign_seed, .want = { "sig" } },
    { .file = "mldsa_65_verify_test.json", .run = verify, .cheap = true },
};

/* The algorithm: a group's parameterSet (ML-KEM) or the file's algorithm (ML-DSA). */
static const char *algorithm(const struct json *root, const struct json *g)
{
    const char *set = json_str(json_get(g, "parameterSet"));

    return set != NULL ? set : json_str(json_get(root, "algorithm"));
}

/* Calls fn on every vector of the file, in order; false as soon as fn says so. */
static bool each_vector(const struct json *root,
                        bool (*fn)(void *arg, size_t i, const struct vec *v), void *arg)
{
    const struct json *groups = json_get(root, "testGroups");
    size_t i = 0;

    for (size_t gi = 0; gi < json_count(groups); gi++) {
        const struct json *g = json_at(groups, gi), *tests = json_get(g, "tests");

        for (size_t ti = 0; ti < json_count(tests); ti++, i++) {
            struct vec v = { .g = g, .t = json_at(tests, ti), .alg = algorithm(root, g), .id = -1 };

            json_int(json_get(v.t, "tcId"), &v.id);
            if (!fn(arg, i, &v))
                return false;
        }
    }
    return true;
}

/* Whether a is what the file says of a valid vector: success, the file's bytes, its key. */
static bool as_file_says(const struct suite *s, const struct vec *v, const struct answer *a)
{
    unsigned char want[MAX_OUT];
    size_t n = 0;

    if (!a->ok || !a->pub_matches)
        return false;
    for (int k = 0; k < 2 && s->want[k] != NULL; k++) {
        struct json_bytes b;
        bool fits;

        if (!json_hex_field(v->t, s->want[k], &b))
            return false;
        fits = n + b.n <= sizeof(want);
        if (fits)
            memcpy(want + n, b.p, b.n);
        n += b.n;
        free(b.p);
        if (!fits)
            return false;
    }
    return a->n == n && memcmp(a->out, want, n) == 0;
}

static bool same_answer(const struct answer *a, const struct answer *b)
{
    return a->ok == b->ok && a->pub_matches == b->pub_matches
           && (b->random || (a->n == b->n && memcmp(a->out, b->out, a->n) == 0));
}

struct reference_run {
    const struct suite *s;
    OSSL_LIB_CTX *ref;
    struct answer *refs;
    int differ, valid, invalid;
};

/* v on the default provider; false if the vector cannot be read. */
static bool reference_once(const struct reference_run *rr, const struct vec *v, struct answer *a)
{
    long calls = 0;
    bool read;

    memset(a, 0, sizeof(*a));
    a->pub_matches = true;
    read = rr->s->run(v, rr->ref, a, &calls);
    ERR_clear_error();
    return read;
}

/* The default provider's answer; where it is not the file's verdict, the release's is printed. */
static bool reference_answer(void *arg, size_t i, const struct vec *v)
{
    struct reference_run *rr = arg;
    struct answer *a = &rr->refs[i];
    static struct answer again;
    int res = json_result_of(v->t);
    bool file_ok;

    if (res < 0 || !reference_once(rr, v, a) || !reference_once(rr, v, &again)) {
        fprintf(stderr, "FAIL %s tcId %ld: malformed vector\n", rr->s->file, v->id);
        t_failures++;
        return false;
    }
    /* OpenSSL 3.5 takes an empty ML-DSA seed for none, and makes a random key. */
    a->random = !same_answer(a, &again);
    if (a->random)
        printf("  %s tcId %ld: OpenSSL %s's default provider gives another answer each time\n",
               rr->s->file, v->id, OpenSSL_version(OPENSSL_VERSION_STRING));
    rr->valid += res == JSON_VALID;
    rr->invalid += res == JSON_INVALID;
    file_ok = res == JSON_VALID ? as_file_says(rr->s, v, a) : !a->ok;
    if (res == JSON_ACCEPTABLE || file_ok)
        return true;
    rr->differ++;
    /*
     * Only a vector the release cannot answer one way (an empty ML-DSA seed:
     * a random key each time) may differ from the file: anything else is a
     * fault of this test or of the release, and fails.
     */
    CHECK(a->random, "%s tcId %ld: the default provider's answer is not the file's (%s)",
          rr->s->file, v->id, json_result_names[res]);
    printf("  %s tcId %ld: OpenSSL %s's default provider %s a vector the file says is %s;"
           " its answer is the expected one\n",
           rr->s->file, v->id, OpenSSL_version(OPENSSL_VERSION_STRING),
           a->ok ? (res == JSON_VALID ? "gives another answer to" : "accepts") : "refuses",
           json_result_names[res]);
    return true;
}

static bool tested_answer(void *arg, size_t i, const struct vec *v)
{
    struct file_run *fr = arg;
    static struct answer a;

    memset(&a, 0, sizeof(a));
    a.pub_matches = true;
    ERR_clear_error();
    fr->s->run(v, fr->lib, &a, &fr->calls);
    if (t_drain_errors(false))
        report(fr, v, "the runtime raised an error");
    if (!same_answer(&a, &fr->refs[i])) {
        char why[160];

        snprintf(why, sizeof(why),
                 "%s, %zu bytes%s where the default provider %s, %zu bytes%s",
                 a.ok ? "accepted" : "refused", a.n, a.pub_matches ? "" : ", another public key",
                 fr->refs[i].ok ? "accepts" : "refuses", fr->refs[i].n,
                 fr->refs[i].pub_matches ? "" : ", another public key");
        report(fr, v, why);
    }
    return true;
}

static int run_file(void *arg)
{
    struct file_run *fr = arg;

    each_vector(fr->root, tested_answer, fr);
    return 0;
}

static void check_offloads(const struct file_run *fr, const struct rc_stats *d)
{
    const char *m = t_job_mode_name(fr->mode);

    printf("  %-30s %-8s expensive calls %ld, submitted %llu, inline %llu\n", fr->s->file, m,
           fr->calls, (unsigned long long)d->submitted, (unsigned long long)d->inline_ops);
    if (!t_provider_is_ours())
        return;
    CHECK((fr->calls > 0) != fr->s->cheap, "%s [%s]: %ld expensive calls made", fr->s->file, m,
          fr->calls);
    if (fr->mode == T_NO_JOB) {
        CHECK(d->submitted == 0, "%s [%s]: %llu submitted", fr->s->file, m,
              (unsigned long long)d->submitted);
        CHECK(d->inline_ops == (uint64_t)fr->calls, "%s [%s]: %llu inline for %ld calls",
              fr->s->file, m, (unsigned long long)d->inline_ops, fr->calls);
        return;
    }
    CHECK(d->submitted == (uint64_t)fr->calls, "%s [%s]: %llu submitted for %ld calls",
          fr->s->file, m, (unsigned long long)d->submitted, fr->calls);
    CHECK(d->completed == d->submitted, "%s [%s]: %llu completed of %llu", fr->s->file, m,
          (unsigned long long)d->completed, (unsigned long long)d->submitted);
}

static const int modes[] = { T_NO_JOB, T_CORE, T_CALLBACK, T_FD };
#define NMODES (int)(sizeof(modes) / sizeof(modes[0]))

static int run_suite(const struct suite *s)
{
    struct file_run fr = { .s = s };
    struct reference_run rr = { .s = s };
    const char *dir = t_wycheproof_dir();
    struct json *root = NULL;
    int failures = t_failures;
    size_t n = 0;
    long header;
    char err[512] = "no library context";

    fr.lib = t_provider_libctx();
    rr.ref = t_reference_libctx();
    if (dir == NULL || fr.lib == NULL || rr.ref == NULL
        || (root = json_load_vectors(dir, s->file, err, sizeof(err))) == NULL) {
        CHECK(root != NULL, "%s", dir != NULL ? err : "no vectors");
        goto out;
    }
    CHECK(json_tests_counted(root, &n, &header), "%s: %zu tests read, header says %ld", s->file,
          n, header);
    rr.refs = calloc(n, sizeof(*rr.refs));
    if (rr.refs == NULL || !each_vector(root, reference_answer, &rr)) {
        CHECK(false, "%s: cannot compute the default provider's answers", s->file);
        goto out;
    }
    fr.root = root;
    fr.refs = rr.refs;
    for (int m = 0; m < NMODES; m++) {
        struct rc_stats before, delta;

        fr.mode = modes[m];
        fr.calls = 0;
        fr.reports = 0;
        rc_stats_total(&before);
        CHECK_EQ(t_run_job(fr.mode, run_file, &fr, FILE_TIMEOUT_MS), 0);
        t_stats_since(&before, &delta);
        check_offloads(&fr, &delta);
        if (fr.reports > MAX_REPORTS)
            fprintf(stderr, "FAIL %s [%s]: %d more failures not shown\n", s->file,
                    t_job_mode_name(fr.mode), fr.reports - MAX_REPORTS);
    }
    printf("%s: %zu vectors, %d valid, %d invalid, %d modes, %s equal to the default provider%s\n",
           s->file, n, rr.valid, rr.invalid, NMODES, t_failures == failures ? "all" : "NOT all",
           rr.differ > 0 ? ", which answers some vectors otherwise than the file (above)" : "");
out:
    free(rr.refs);
    json_free(root);
    t_provider_free(rr.ref);
    t_provider_free(fr.lib);
    return t_failures ? T_FAIL : T_PASS;
}

static int mlkem_512(void) { return run_suite(&suites[0]); }
static int mlkem_768(void) { return run_suite(&suites[1]); }
static int mlkem_1024(void) { return run_suite(&suites[2]); }
static int mlkem_768_encaps(void) { return run_suite(&suites[3]); }
static int mldsa_44_sign(void) { return run_suite(&suites[4]); }
static int mldsa_65_sign(void) { return run_suite(&suites[5]); }
static int mldsa_87_sign(void) { return run_suite(&suites[6]); }
static int mldsa_65_verify(void) { return run_suite(&suites[7]); }

#endif

static const struct scenario scenarios[] = {
#if OPENSSL_VERSION_NUMBER >= 0x30500000L
    { "mlkem_512", mlkem_512, NULL },
    { "mlkem_768", mlkem_768, NULL },
    { "mlkem_1024", mlkem_1024, NULL },
    { "mlkem_768_encaps", mlkem_768_encaps, NULL },
    { "mldsa_44_sign_seed", mldsa_44_sign, NULL },
    { "mldsa_65_sign_seed", mldsa_65_sign, NULL },
    { "mldsa_87_sign_seed", mldsa_87_sign, NULL },
    { "mldsa_65_verify", mldsa_65_verify, NULL },
#endif
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main_pq(argc, argv, scenarios);
}
