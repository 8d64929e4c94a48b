/*
 * The module as OpenSSL sees it: the provider offers every algorithm of the
 * default provider (so it can be the only one loaded), its wrapped algorithms
 * are fetched from it, keys move to and from the default provider through
 * PEM unchanged, openssl.cnf provider parameters configure the runtime (the
 * environment wins, bad values refuse to load with a reason), and the ENGINE
 * adapter binds by path and offloads RSA and ECDSA private-key operations.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* the ENGINE adapter is tested through the ENGINE API */

#include <errno.h>
#include <openssl/async.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#ifndef OPENSSL_NO_ENGINE
#include <openssl/engine.h>
#endif
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Whether this thread's error queue holds an error whose text contains what; clears it. */
static bool queue_mentions(const char *what)
{
    unsigned long e;
    const char *data;
    int flags;
    bool found = false;
    char buf[512];

    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        if (strstr(buf, what) != NULL || ((flags & ERR_TXT_STRING) && strstr(data, what) != NULL))
            found = true;
    }
    return found;
}

/* ---- algorithms --------------------------------------------------------- */

static int count_algs(const OSSL_ALGORITHM *a)
{
    int n = 0;

    while (a != NULL && a[n].algorithm_names != NULL)
        n++;
    return n;
}

static int offers_everything(void)
{
    static const int ops[] = { OSSL_OP_DIGEST, OSSL_OP_CIPHER, OSSL_OP_MAC, OSSL_OP_KDF,
                               OSSL_OP_RAND, OSSL_OP_KEYMGMT, OSSL_OP_KEYEXCH, OSSL_OP_SIGNATURE,
                               OSSL_OP_ASYM_CIPHER, OSSL_OP_KEM, OSSL_OP_ENCODER, OSSL_OP_DECODER,
                               OSSL_OP_STORE };
    static const struct {
        const char *name;
        EVP_SIGNATURE *(*unused)(void);
    } wrapped_sigs[] = { { "RSA", NULL }, { "ECDSA", NULL }, { "ED25519", NULL } };
    OSSL_LIB_CTX *rlib = t_provider_libctx(), *dlib = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *rprov = NULL, *dprov = NULL;
    int no_cache;

    CHECK(rlib != NULL && dlib != NULL, "library contexts");
    if (rlib == NULL || dlib == NULL)
        goto out;
    rprov = OSSL_PROVIDER_load(rlib, "ringcrypt");
    dprov = OSSL_PROVIDER_load(dlib, "default");
    CHECK(rprov != NULL && dprov != NULL, "providers");
    if (rprov == NULL || dprov == NULL)
        goto out;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        const OSSL_ALGORITHM *r = OSSL_PROVIDER_query_operation(rprov, ops[i], &no_cache);
        const OSSL_ALGORITHM *d = OSSL_PROVIDER_query_operation(dprov, ops[i], &no_cache);
        int nr = count_algs(r), nd = count_algs(d);

        CHECK(nr == nd, "operation %d: ringcrypt offers %d algorithms, default %d", ops[i], nr, nd);
        for (int k = 0; k < nr && k < nd; k++) {
            CHECK(strcmp(r[k].algorithm_names, d[k].algorithm_names) == 0, "op %d: %s vs %s",
                  ops[i], r[k].algorithm_names, d[k].algorithm_names);
            CHECK(strstr(r[k].property_definition, "provider=ringcrypt") != NULL,
                  "op %d %s: properties %s", ops[i], r[k].algorithm_names,
                  r[k].property_definition);
        }
    }
    for (size_t i = 0; i < sizeof(wrapped_sigs) / sizeof(wrapped_sigs[0]); i++) {
        EVP_SIGNATURE *sig = EVP_SIGNATURE_fetch(rlib, wrapped_sigs[i].name, "provider=ringcrypt");

        CHECK(sig != NULL, "fetch %s with provider=ringcrypt", wrapped_sigs[i].name);
        CHECK(sig == NULL || strcmp(OSSL_PROVIDER_get0_name(EVP_SIGNATURE_get0_provider(sig)),
                                    "ringcrypt") == 0, "%s from ringcrypt", wrapped_sigs[i].name);
        EVP_SIGNATURE_free(sig);
    }
out:
    OSSL_PROVIDER_unload(rprov);
    OSSL_PROVIDER_unload(dprov);
    t_provider_free(rlib);
    OSSL_LIB_CTX_free(dlib);
    return t_failures ? T_FAIL : T_PASS;
}

/* ---- keys ------------------------------------------------------------- */

static char *to_pem(EVP_PKEY *key, OSSL_LIB_CTX *libctx, size_t *len)
{
    OSSL_ENCODER_CTX *enc = OSSL_ENCODER_CTX_new_for_pkey(key, EVP_PKEY_KEYPAIR, "PEM",
                                                          "PrivateKeyInfo", NULL);
    unsigned char *data = NULL;

    (void)libctx;
    if (enc == NULL || !OSSL_ENCODER_to_data(enc, &data, len))
        data = NULL;
    OSSL_ENCODER_CTX_free(enc);
    return (char *)data;
}

static EVP_PKEY *from_pem(const char *pem, size_t len, OSSL_LIB_CTX *libctx)
{
    EVP_PKEY *key = NULL;
    OSSL_DECODER_CTX *dec = OSSL_DECODER_CTX_new_for_pkey(&key, "PEM", NULL, NULL,
                                                          EVP_PKEY_KEYPAIR, libctx, NULL);
    const unsigned char *p = (const unsigned char *)pem;

    if (dec == NULL || !OSSL_DECODER_from_data(dec, &p, &len)) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    OSSL_DECODER_CTX_free(dec);
    return key;
}

/* A key made in from travels as PEM to to and comes out the same key. */
static void check_move(const char *what, EVP_PKEY *key, OSSL_LIB_CTX *from, OSSL_LIB_CTX *to)
{
    size_t len = 0;
    char *pem = to_pem(key, from, &len);
    EVP_PKEY *copy = pem != NULL ? from_pem(pem, len, to) : NULL;

    CHECK(pem != NULL && strstr(pem, "BEGIN PRIVATE KEY") != NULL, "%s: PEM encoding", what);
    CHECK(copy != NULL, "%s: PEM decoding", what);
    CHECK(copy == NULL || EVP_PKEY_eq(key, copy) == 1, "%s: the decoded key differs", what);
    if (copy == NULL)
        t_print_errors(what);
    EVP_PKEY_free(copy);
    OPENSSL_free(pem);
}

static int keys_like_default(void)
{
    static const struct {
        const char *type, *arg;
    } kinds[] = { { "RSA", NULL }, { "EC", "P-256" }, { "X25519", NULL }, { "ED25519", NULL } };
    OSSL_LIB_CTX *rlib = t_provider_libctx(), *dlib = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *dprov = dlib != NULL ? OSSL_PROVIDER_load(dlib, "default") : NULL;

    CHECK(rlib != NULL && dprov != NULL, "contexts");
    for (size_t i = 0; rlib != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        EVP_PKEY *mine = kinds[i].arg != NULL
            ? EVP_PKEY_Q_keygen(rlib, NULL, kinds[i].type, kinds[i].arg)
            : strcmp(kinds[i].type, "RSA") == 0 ? EVP_PKEY_Q_keygen(rlib, NULL, "RSA", (size_t)2048)
                                                : EVP_PKEY_Q_keygen(rlib, NULL, kinds[i].type);
        EVP_PKEY *theirs = kinds[i].arg != NULL
            ? EVP_PKEY_Q_keygen(dlib, NULL, kinds[i].type, kinds[i].arg)
            : strcmp(kinds[i].type, "RSA") == 0 ? EVP_PKEY_Q_keygen(dlib, NULL, "RSA", (size_t)2048)
                                                : EVP_PKEY_Q_keygen(dlib, NULL, kinds[i].type);

        CHECK(mine != NULL && theirs != NULL, "%s key generation", kinds[i].type);
        if (mine != NULL && theirs != NULL) {
            check_move(kinds[i].type, mine, rlib, dlib);
            check_move(kinds[i].type, theirs, dlib, rlib);
            CHECK(EVP_PKEY_get_bits(mine) == EVP_PKEY_get_bits(theirs), "%s bits %d vs %d",
                  kinds[i].type, EVP_PKEY_get_bits(mine), EVP_PKEY_get_bits(theirs));
        }
        EVP_PKEY_free(mine);
        EVP_PKEY_free(theirs);
    }
    OSSL_PROVIDER_unload(dprov);
    t_provider_free(rlib);
    OSSL_LIB_CTX_free(dlib);
    return t_failures ? T_FAIL : T_PASS;
}

/* ---- configuration ------------------------------------------------------ */

/*
 * Loads an openssl.cnf with a ringcrypt section holding settings; 1 if it
 * loaded. OPENSSL_CONF names the file meanwhile, as it does for users: the
 * provider reads its section there to find keys it does not know.
 */
static int load_cnf(OSSL_LIB_CTX *libctx, const char *settings)
{
    char path[] = "/tmp/ringcrypt-cnf-XXXXXX";
    int fd = mkstemp(path), ok;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

    if (f == NULL)
        return 0;
    fprintf(f, "openssl_conf = init\n[init]\nproviders = provs\n[provs]\nringcrypt = rc\n"
               "[rc]\nmodule = %s/ringcrypt.so\nactivate = 1\n%s\n", t_build_dir(), settings);
    fclose(f);
    setenv("OPENSSL_CONF", path, 1);
    ok = OSSL_LIB_CTX_load_config(libctx, path);
    unsetenv("OPENSSL_CONF");
    unlink(path);
    return ok && OSSL_PROVIDER_available(libctx, "ringcrypt");
}

/* 1 when settings load; *info is then what the runtime runs with. */
static int loads_with(const char *settings, struct rc_info *info)
{
    OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();
    int ok;

    memset(info, 0, sizeof(*info));
    ok = libctx != NULL && load_cnf(libctx, settings);
    if (!ok)
        t_print_errors("load");
    ok = ok && rc_info(info) == 0;
    OSSL_LIB_CTX_free(libctx);
    return ok;
}

static int config_from_cnf(void)
{
    struct rc_info info;

    CHECK(loads_with("backend = worker\nworkers = 3\nmin_offload_bytes = 100\n"
                     "timeout_ms = 1234\nspin_us = 0\n", &info), "config with valid settings");
    CHECK_EQ(info.workers, 3);
    CHECK_EQ(info.min_offload_bytes, 100);
    CHECK_EQ(info.timeout_ms, 1234);
    CHECK_EQ(info.spin_us, 0);
    return t_failures ? T_FAIL : T_PASS;
}

static int cnf_env_wins(void)
{
    struct rc_info info;

    CHECK(loads_with("workers = 3\n", &info), "config");
    CHECK_EQ(info.workers, 1);
    return t_failures ? T_FAIL : T_PASS;
}
static const char *const env_workers_1[] = { "RINGCRYPT_WORKERS=1", NULL };

/*
 * 1 when settings refuse to load and stderr says what: OpenSSL's config
 * loader drops the error queue of a provider that fails to start, so the
 * reason has to reach stderr.
 */
static int refused_saying(const char *settings, const char *what)
{
    OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();
    char path[] = "/tmp/ringcrypt-stderr-XXXXXX", said[1024] = "";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO), loaded;
    ssize_t n;

    if (libctx == NULL || fd < 0 || saved < 0)
        return 0;
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    loaded = load_cnf(libctx, settings);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    n = pread(fd, said, sizeof(said) - 1, 0);
    said[n > 0 ? n : 0] = '\0';
    close(fd);
    close(saved);
    unlink(path);
    OSSL_LIB_CTX_free(libctx);
    if (loaded || strstr(said, what) == NULL) {
        fprintf(stderr, "%s: %s; stderr said: %s\n", settings, loaded ? "loaded" : "refused", said);
        return 0;
    }
    return 1;
}

static int cnf_bad_value(void)
{
    CHECK(refused_saying("workers = 0\n", "workers=0: out of range"), "workers = 0");
    return t_failures ? T_FAIL : T_PASS;
}

/* A misspelt key refuses like a misspelt RINGCRYPT_* does; OpenSSL's own keys pass. */
static int cnf_unknown_key(void)
{
    struct rc_info info;

    CHECK(refused_saying("wokers = 2\n",
                         "wokers: unknown ringcrypt setting (known: backend workers"),
          "a misspelt key");
    CHECK(refused_saying("workers = 2\nworkers.x = 2\n", "workers.x: unknown"), "a dotted key");
    CHECK(refused_saying("kernel_sockets = 8\nwokers = 2\n", "kernel_sockets force_eventfd placement stats)"),
          "the message lists every key");
    CHECK(loads_with("soft_load = 0\nworkers = 2\n", &info), "OpenSSL's keys with ours");
    CHECK_EQ(info.workers, 2);
    return t_failures ? T_FAIL : T_PASS;
}

static int cnf_kernel_sockets(void)
{
    struct rc_info info;

    CHECK(refused_saying("kernel_sockets = 1\n", "kernel_sockets=1: out of range 2..65536"),
          "kernel_sockets = 1");
    CHECK(refused_saying("kernel_sockets = many\n", "kernel_sockets=many: not a number"),
          "kernel_sockets = many");
    CHECK(loads_with("kernel_sockets = 7\n", &info), "kernel_sockets = 7");
    CHECK_EQ(info.kernel_sockets, 7);
    return t_failures ? T_FAIL : T_PASS;
}

static int bad_env_refuses_load(void)
{
    OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();

    CHECK(OSSL_PROVIDER_set_default_search_path(libctx, t_build_dir()), "search path");
    CHECK(OSSL_PROVIDER_load(libctx, "ringcrypt") == NULL, "a bad environment must refuse");
    CHECK(queue_mentions("RINGCRYPT_BACKEND=bogus"), "the error names the variable");
    OSSL_LIB_CTX_free(libctx);
    return t_failures ? T_FAIL : T_PASS;
}
static const char *const env_bad_backend[] = { "RINGCRYPT_BACKEND=bogus", NULL };

/* ---- the ENGINE adapter -------------------------------------------------- */

#ifndef OPENSSL_NO_ENGINE /* OpenSSL 4.0 has no ENGINE API: the adapter is compiled out */

struct engine_case {
    RSA *rsa;
    EC_KEY *ec;
    int ok;
};

static int engine_ops(void *arg)
{
    struct engine_case *c = arg;
    static const unsigned char digest[32] = { 1, 2, 3 };
    unsigned char sig[512], out[512], bad[256] = { 0xff };
    unsigned int siglen = 0;

    c->ok = RSA_sign(NID_sha256, digest, sizeof(digest), sig, &siglen, c->rsa) == 1
            && RSA_verify(NID_sha256, digest, sizeof(digest), sig, siglen, c->rsa) == 1
            && ECDSA_sign(0, digest, sizeof(digest), sig, &siglen, c->ec) == 1
            && ECDSA_verify(0, digest, sizeof(digest), sig, (int)siglen, c->ec) == 1;
    /* A ciphertext that is not one: the failure comes home with its error. */
    CHECK(RSA_private_decrypt(sizeof(bad), bad, out, c->rsa, RSA_PKCS1_OAEP_PADDING) == -1,
          "garbage decrypts");
    CHECK(ERR_peek_error() != 0, "no error for a bad ciphertext");
    ERR_clear_error();
    return 0;
}

static int engine_by_path(void)
{
    ENGINE *e = ENGINE_by_id("dynamic");
    char path[4200];
    struct engine_case c = { 0 };
    BIGNUM *f4 = BN_new();
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    static const int modes[] = { T_NO_JOB, T_CORE, T_CALLBACK, T_FD };

    snprintf(path, sizeof(path), "%s/ringcrypt.so", t_build_dir());
    CHECK(e != NULL && ENGINE_ctrl_cmd_string(e, "SO_PATH", path, 0)
              && ENGINE_ctrl_cmd_string(e, "LOAD", NULL, 0), "dynamic load of %s", path);
    if (t_failures)
        goto out;
    CHECK(strcmp(ENGINE_get_id(e), "ringcrypt") == 0, "engine id %s", ENGINE_get_id(e));
    CHECK(ENGINE_init(e) == 1, "ENGINE_init");
    c.rsa = RSA_new_method(e);
    c.ec = EC_KEY_new_method(e);
    CHECK(c.rsa != NULL && f4 != NULL && BN_set_word(f4, RSA_F4)
              && RSA_generate_key_ex(c.rsa, 2048, f4, NULL) == 1, "RSA key on the engine");
    CHECK(c.ec != NULL && group != NULL && EC_KEY_set_group(c.ec, group)
              && EC_KEY_generate_key(c.ec) == 1, "EC key on the engine");
    for (size_t m = 0; t_failures == 0 && m < sizeof(modes) / sizeof(modes[0]); m++) {
        struct rc_stats before, delta;

        rc_stats_total(&before);
        CHECK_EQ(t_run_job(modes[m], engine_ops, &c, 20000), 0);
        CHECK(c.ok, "%s: sign and verify through the engine", t_job_mode_name(modes[m]));
        t_stats_since(&before, &delta);
        if (modes[m] == T_NO_JOB)
            CHECK_EQ(delta.submitted, 0);
        else
            CHECK(delta.submitted >= 3, "%s: %llu offloaded, want RSA sign, ECDSA sign, decrypt",
                  t_job_mode_name(modes[m]), (unsigned long long)delta.submitted);
    }
    ENGINE_finish(e);
out:
    RSA_free(c.rsa);
    EC_KEY_free(c.ec);
    BN_free(f4);
    EC_GROUP_free(group);
    ENGINE_free(e);
    return t_failures ? T_FAIL : T_PASS;
}
#endif /* OPENSSL_NO_ENGINE */

/* ---- calls the way odd callers make them ------------------------------- */

struct odd_calls {
    OSSL_LIB_CTX *libctx;
    EVP_PKEY *ec, *peer, *rsa;
};

/*
 * Output sizes far larger than any result (SIZE_MAX even) are legal; the
 * request must hold what the call can produce, not what the caller offers.
 */
static int huge_sizes(void *arg)
{
    struct odd_calls *c = arg;
    static const unsigned char digest[32] = { 7 };
    unsigned char out[512], ct[256];
    size_t len, ctlen = sizeof(ct);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(c->libctx, c->ec, NULL);

    len = SIZE_MAX;
    CHECK(ctx != NULL && EVP_PKEY_sign_init(ctx) == 1
              && EVP_PKEY_sign(ctx, out, &len, digest, sizeof(digest)) == 1 && len < 80,
          "ECDSA sign with siglen SIZE_MAX: %zu", len);
    /* Less room than a signature may take fails, and writes nothing past it. */
    memset(out, 0xa5, sizeof(out));
    len = 8;
    CHECK(EVP_PKEY_sign(ctx, out, &len, digest, sizeof(digest)) <= 0, "ECDSA sign into 8 bytes");
    ERR_clear_error();
    for (len = 8; len < sizeof(out) && out[len] == 0xa5; len++)
        ;
    CHECK(len == sizeof(out), "byte %zu written past an 8-byte signature buffer", len);
    CHECK(EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, c->peer) == 1,
          "derive set-up");
    len = SIZE_MAX;
    CHECK(EVP_PKEY_derive(ctx, out, &len) == 1 && len == 32, "derive with SIZE_MAX: %zu", len);
    EVP_PKEY_CTX_free(ctx);
    ctx = EVP_PKEY_CTX_new_from_pkey(c->libctx, c->rsa, NULL);
    CHECK(ctx != NULL && EVP_PKEY_encrypt_init(ctx) == 1
              && EVP_PKEY_encrypt(ctx, ct, &ctlen, digest, sizeof(digest)) == 1, "encrypt");
    len = SIZE_MAX;
    CHECK(EVP_PKEY_decrypt_init(ctx) == 1 && EVP_PKEY_decrypt(ctx, out, &len, ct, ctlen) == 1
              && len == sizeof(digest) && memcmp(out, digest, len) == 0,
          "decrypt with SIZE_MAX: %zu", len);
    EVP_PKEY_CTX_free(ctx);
    return 0;
}

/* A mandatory provider=ringcrypt query must not reach the default provider's own fetches. */
static int mandatory_query(void *arg)
{
    struct odd_calls *c = arg;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sig[128];
    size_t len = sizeof(sig);

    CHECK(md != NULL && EVP_DigestSignInit_ex(md, NULL, "SHA256", c->libctx, "provider=ringcrypt",
                                              c->ec, NULL) == 1
              && EVP_DigestSign(md, sig, &len, (const unsigned char *)"m", 1) == 1,
          "ECDSA with SHA-256 under provider=ringcrypt");
    t_print_errors("mandatory query");
    EVP_MD_CTX_free(md);
    return 0;
}

/* Errors the caller had, and its marks, survive a call run on its own thread. */
static int errors_kept(void *arg)
{
    struct odd_calls *c = arg;
    static const unsigned char digest[32] = { 9 };
    unsigned char sig[128];
    size_t len = sizeof(sig);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(c->libctx, c->ec, NULL);
    int left = 0;

    ERR_clear_error();
    ERR_raise_data(ERR_LIB_USER, 1, "before the mark");
    ERR_set_mark();
    ERR_raise_data(ERR_LIB_USER, 2, "after the mark");
    CHECK(ctx != NULL && EVP_PKEY_sign_init(ctx) == 1
              && EVP_PKEY_sign(ctx, sig, &len, digest, sizeof(digest)) == 1, "sign");
    ERR_pop_to_mark();
    while (ERR_get_error() != 0)
        left++;
    CHECK_EQ(left, 1);
    EVP_PKEY_CTX_free(ctx);
    return 0;
}

/*
 * Placement "adaptive" runs a lone job's calls on the caller, on its own
 * buffers with no request made (engine/op.c), and sends a few out as probes:
 * every signature verifies under the default provider either way, and every
 * call is counted once, here or sent out.
 */
#define LONE_SIGNS 200

static bool env_is(const char *name, const char *value)
{
    const char *v = getenv(name);

    return v != NULL && strcmp(v, value) == 0;
}

static int lone_signs(void *arg)
{
    struct odd_calls *c = arg;
    OSSL_LIB_CTX *dlib = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *dprov = dlib != NULL ? OSSL_PROVIDER_load(dlib, "default") : NULL;
    size_t pemlen = 0;
    char *pem = to_pem(c->ec, c->libctx, &pemlen);
    EVP_PKEY *theirs = pem != NULL && dprov != NULL ? from_pem(pem, pemlen, dlib) : NULL;
    EVP_PKEY_CTX *sign = EVP_PKEY_CTX_new_from_pkey(c->libctx, c->ec, NULL);
    EVP_PKEY_CTX *verify = theirs != NULL ? EVP_PKEY_CTX_new_from_pkey(dlib, theirs, NULL) : NULL;
    struct rc_stats before, delta;
    int bad = 0;

    CHECK(sign != NULL && verify != NULL && EVP_PKEY_sign_init(sign) == 1
              && EVP_PKEY_verify_init(verify) == 1, "contexts");
    rc_stats_total(&before);
    for (int i = 0; t_failures == 0 && i < LONE_SIGNS; i++) {
        unsigned char digest[32] = { (unsigned char)i }, sig[80];
        size_t len = sizeof(sig);

        if (EVP_PKEY_sign(sign, sig, &len, digest, sizeof(digest)) != 1
            || EVP_PKEY_verify(verify, sig, len, digest, sizeof(digest)) != 1)
            bad++;
    }
    t_stats_since(&before, &delta);
    printf("  lone signs%s: %llu here, %llu sent out\n", ASYNC_get_current_job() == NULL ? " (no job)" : "",
           (unsigned long long)delta.inline_ops, (unsigned long long)delta.submitted);
    t_print_errors("lone signs");
    CHECK_EQ(bad, 0);
    CHECK_EQ(delta.inline_ops + delta.submitted, (uint64_t)(t_failures == 0 ? LONE_SIGNS : 0));
    if (ASYNC_get_current_job() == NULL || env_is("RINGCRYPT_BACKEND", "inline"))
        CHECK_EQ(delta.submitted, 0);
    else if (env_is("RINGCRYPT_PLACEMENT", "adaptive"))
        CHECK(delta.submitted <= LONE_SIGNS / 10, "%llu of %d signatures sent out",
              (unsigned long long)delta.submitted, LONE_SIGNS);
    else
        CHECK_EQ(delta.submitted, LONE_SIGNS);
    EVP_PKEY_CTX_free(sign);
    EVP_PKEY_CTX_free(verify);
    EVP_PKEY_free(theirs);
    OPENSSL_free(pem);
    OSSL_PROVIDER_unload(dprov);
    OSSL_LIB_CTX_free(dlib);
    return 0;
}

static int odd_callers(void)
{
    static int (*const calls[])(void *) = { huge_sizes, mandatory_query, errors_kept, lone_signs };
    static const int modes[] = { T_NO_JOB, T_CORE, T_FD };
    struct odd_calls c = { .libctx = t_provider_libctx() };

    CHECK(c.libctx != NULL, "context");
    if (c.libctx == NULL)
        return T_FAIL;
    c.ec = EVP_PKEY_Q_keygen(c.libctx, NULL, "EC", "P-256");
    c.peer = EVP_PKEY_Q_keygen(c.libctx, NULL, "EC", "P-256");
    c.rsa = EVP_PKEY_Q_keygen(c.libctx, NULL, "RSA", (size_t)2048);
    CHECK(c.ec != NULL && c.peer != NULL && c.rsa != NULL, "keys");
    for (size_t m = 0; t_failures == 0 && m < sizeof(modes) / sizeof(modes[0]); m++)
        for (size_t k = 0; k < sizeof(calls) / sizeof(calls[0]); k++)
            CHECK_EQ(t_run_job(modes[m], calls[k], &c, 20000), 0);
    EVP_PKEY_free(c.ec);
    EVP_PKEY_free(c.peer);
    EVP_PKEY_free(c.rsa);
    rc_shutdown();
    t_provider_free(c.libctx);
    return t_failures ? T_FAIL : T_PASS;
}
static const char *const env_inline[] = { "RINGCRYPT_BACKEND=inline", NULL };
static const char *const env_adaptive[] = { "RINGCRYPT_PLACEMENT=adaptive", NULL };

static const struct scenario scenarios[] = {
    { "offers_everything", offers_everything, NULL },
    { "keys_like_default", keys_like_default, NULL },
    { "config_from_cnf", config_from_cnf, NULL },
    { "cnf_env_wins", cnf_env_wins, env_workers_1 },
    { "cnf_bad_value", cnf_bad_value, NULL },
    { "cnf_unknown_key", cnf_unknown_key, NULL },
    { "cnf_kernel_sockets", cnf_kernel_sockets, NULL },
    { "bad_env_refuses_load", bad_env_refuses_load, env_bad_backend },
#ifndef OPENSSL_NO_ENGINE
    { "engine_by_path", engine_by_path, NULL },
#endif
    { "odd_callers", odd_callers, NULL },
    { "odd_callers_inline", odd_callers, env_inline },
    { "odd_callers_adaptive", odd_callers, env_adaptive },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
