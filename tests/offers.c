/*
 * ringcrypt offers every algorithm of the default provider of the running
 * release, and every function of each. In one library context where both
 * providers are loaded, their answers to OSSL_PROVIDER_query_operation are
 * compared for every operation: the same algorithm names and descriptions,
 * the same properties but provider=, and for each algorithm the same function
 * ids. The algorithms ringcrypt does not wrap are the default provider's own
 * functions; those it wraps have ringcrypt's, and none of them is offered
 * unwrapped on this release (the provider parameter "unwrapped" is empty):
 * a function the default provider's implementation has and ringcrypt cannot
 * forward fails here.
 *
 * Negative tests: the comparison notices doctored tables (a function id
 * missing or extra, an algorithm missing or extra, a property changed); an
 * algorithm with a function ringcrypt cannot forward is offered exactly as
 * the default provider has it, says why in "unwrapped", and still signs; and
 * the functions later releases added to wrapped algorithms work through
 * ringcrypt as through the default provider (copyctx and serialization of
 * digests, ciphers keyed with an EVP_SKEY, ECDH deriving an EVP_SKEY). The
 * message API of signatures is kat's (message_api_vs_default).
 */
#include <errno.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define JOB_TIMEOUT_MS 120000
#define MAX_FNS 64

typedef void (*rc_fn_ptr)(void);

static OSSL_LIB_CTX *libctx;           /* ringcrypt and default, both loaded */
static OSSL_PROVIDER *rc_prov, *dflt_prov;

/* What ringcrypt wraps (engine/algs.c); since: the first release whose default provider has it. */
#define V3_4 0x30400000L
#define V3_5 0x30500000L
static const struct {
    int op;
    const char *name;
    long since;
} wrapped[] = {
    { OSSL_OP_SIGNATURE, "RSA", 0 },
    { OSSL_OP_SIGNATURE, "ECDSA", 0 },
    { OSSL_OP_SIGNATURE, "ED25519", 0 },
    { OSSL_OP_SIGNATURE, "RSA-SHA2-256", V3_4 },
    { OSSL_OP_SIGNATURE, "RSA-SHA2-384", V3_4 },
    { OSSL_OP_SIGNATURE, "RSA-SHA2-512", V3_4 },
    { OSSL_OP_SIGNATURE, "ECDSA-SHA2-256", V3_4 },
    { OSSL_OP_SIGNATURE, "ECDSA-SHA2-384", V3_4 },
    { OSSL_OP_SIGNATURE, "ECDSA-SHA2-512", V3_4 },
    { OSSL_OP_SIGNATURE, "ML-DSA-44", V3_5 },
    { OSSL_OP_SIGNATURE, "ML-DSA-65", V3_5 },
    { OSSL_OP_SIGNATURE, "ML-DSA-87", V3_5 },
    { OSSL_OP_SIGNATURE, "SLH-DSA-SHA2-128s", V3_5 },
    { OSSL_OP_SIGNATURE, "SLH-DSA-SHA2-128f", V3_5 },
    { OSSL_OP_SIGNATURE, "SLH-DSA-SHA2-192s", V3_5 },
    { OSSL_OP_SIGNATURE, "SLH-DSA-SHA2-192f", V3_5 },
    { OSSL_OP_SIGNATURE, "SLH-DSA-SHA2-256s", V3_5 },
    { OSSL_OP_SIGNATURE, "SLH-DSA-SHA2-256f", V3_5 },
    { OSSL_OP_SIGNATURE, "SLH-DSA-SHAKE-128s", V3_5 },
    { OSSL_OP_SIGNATURE, "SLH-DSA-SHAKE-128f", V3_5 },
    { OSSL_OP_SIGNATURE, "SLH-DSA-SHAKE-192s", V3_5 },
    { OSSL_OP_SIGNATURE, "SLH-DSA-SHAKE-192f", V3_5 },
    { OSSL_OP_SIGNATURE, "SLH-DSA-SHAKE-256s", V3_5 },
    { OSSL_OP_SIGNATURE, "SLH-DSA-SHAKE-256f", V3_5 },
    { OSSL_OP_ASYM_CIPHER, "RSA", 0 },
    { OSSL_OP_KEYEXCH, "ECDH", 0 },
    { OSSL_OP_KEYEXCH, "X25519", 0 },
    { OSSL_OP_KEYMGMT, "X25519", 0 },
    { OSSL_OP_KEM, "ML-KEM-512", V3_5 },
    { OSSL_OP_KEM, "ML-KEM-768", V3_5 },
    { OSSL_OP_KEM, "ML-KEM-1024", V3_5 },
    { OSSL_OP_KEM, "X25519MLKEM768", V3_5 },
    { OSSL_OP_KEM, "X448MLKEM1024", V3_5 },
    { OSSL_OP_KEM, "SecP256r1MLKEM768", V3_5 },
    { OSSL_OP_KEM, "SecP384r1MLKEM1024", V3_5 },
    { OSSL_OP_KEYMGMT, "ML-KEM-512", V3_5 },
    { OSSL_OP_KEYMGMT, "ML-KEM-768", V3_5 },
    { OSSL_OP_KEYMGMT, "ML-KEM-1024", V3_5 },
    { OSSL_OP_KEYMGMT, "X25519MLKEM768", V3_5 },
    { OSSL_OP_KEYMGMT, "X448MLKEM1024", V3_5 },
    { OSSL_OP_KEYMGMT, "SecP256r1MLKEM768", V3_5 },
    { OSSL_OP_KEYMGMT, "SecP384r1MLKEM1024", V3_5 },
    { OSSL_OP_CIPHER, "AES-128-GCM", 0 },
    { OSSL_OP_CIPHER, "AES-256-GCM", 0 },
    { OSSL_OP_CIPHER, "ChaCha20-Poly1305", 0 },
    { OSSL_OP_CIPHER, "AES-128-CBC", 0 },
    { OSSL_OP_CIPHER, "AES-256-CBC", 0 },
    { OSSL_OP_DIGEST, "SHA2-256", 0 },
    { OSSL_OP_DIGEST, "SHA2-384", 0 },
    { OSSL_OP_DIGEST, "SHA2-512", 0 },
    { OSSL_OP_MAC, "HMAC", 0 },
};

static bool open_both(void)
{
    libctx = OSSL_LIB_CTX_new();
    if (libctx != NULL && OSSL_PROVIDER_set_default_search_path(libctx, t_build_dir()))
        rc_prov = OSSL_PROVIDER_load(libctx, "ringcrypt");
    if (rc_prov != NULL)
        dflt_prov = OSSL_PROVIDER_load(libctx, "default");
    if (dflt_prov == NULL)
        t_print_errors("loading ringcrypt and default");
    return dflt_prov != NULL;
}

/* ---- comparing two providers' algorithms --------------------------------- */

static bool same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Whether ours is the default provider's property definition d with provider=ringcrypt. */
static bool same_props(const char *d, const char *ours)
{
    static const char from[] = "provider=default", to[] = "provider=ringcrypt";
    const char *at = d != NULL ? strstr(d, from) : NULL;
    char want[512];

    if (at == NULL)
        return same_str(d, ours);
    snprintf(want, sizeof(want), "%.*s%s%s", (int)(at - d), d, to, at + strlen(from));
    return same_str(want, ours);
}

static int by_value(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* The function ids of f, sorted, in ids (MAX_FNS); how many. */
static size_t ids_of(const OSSL_DISPATCH *f, int *ids)
{
    size_t n = 0;

    for (; f->function_id != 0 && n < MAX_FNS; f++)
        ids[n++] = f->function_id;
    qsort(ids, n, sizeof(*ids), by_value);
    return n;
}

static void print_ids(const char *who, const int *ids, size_t n)
{
    fprintf(stderr, "    %s:", who);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

/* 0 when d and ours have the same function ids (as many times each). */
static int compare_ids(const char *names, const OSSL_DISPATCH *d, const OSSL_DISPATCH *ours,
                       bool loud)
{
    int a[MAX_FNS], b[MAX_FNS];
    size_t na = ids_of(d, a), nb = ids_of(ours, b);

    if (na == nb && memcmp(a, b, na * sizeof(*a)) == 0)
        return 0;
    if (loud) {
        fprintf(stderr, "  %s: other function ids\n", names);
        print_ids("default  ", a, na);
        print_ids("ringcrypt", b, nb);
    }
    return 1;
}

static size_t count_algs(const OSSL_ALGORITHM *a)
{
    size_t n = 0;

    while (a != NULL && a[n].algorithm_names != NULL)
        n++;
    return n;
}

/*
 * How many differences there are between the default provider's algorithms
 * of op (d) and ringcrypt's (ours), each described when loud; match[i] is
 * set to the index in ours of d[i] (match: count_algs(d) entries, or NULL).
 */
static int compare_algs(int op, const OSSL_ALGORITHM *d, const OSSL_ALGORITHM *ours, bool loud,
                        size_t *match)
{
    size_t nd = count_algs(d), no = count_algs(ours);
    bool *used = calloc(no + 1, sizeof(*used));
    int diffs = 0;

    if (used == NULL)
        return 1;
    for (size_t i = 0; i < nd; i++) {
        size_t j;

        for (j = 0; j < no; j++)
            if (!used[j] && strcmp(d[i].algorithm_names, ours[j].algorithm_names) == 0
                && same_props(d[i].property_definition, ours[j].property_definition))
                break;
        if (j == no) {
            diffs++;
            if (loud)
                fprintf(stderr, "  operation %d: %s [%s] is not offered\n", op,
                        d[i].algorithm_names, d[i].property_definition);
            continue;
        }
        used[j] = true;
        if (match != NULL)
            match[i] = j;
        if (!same_str(d[i].algorithm_description, ours[j].algorithm_description)) {
            diffs++;
            if (loud)
                fprintf(stderr, "  operation %d: %s: another description\n", op,
                        d[i].algorithm_names);
        }
        diffs += compare_ids(d[i].algorithm_names, d[i].implementation, ours[j].implementation,
                             loud);
    }
    for (size_t j = 0; j < no; j++) {
        if (!used[j]) {
            diffs++;
            if (loud)
                fprintf(stderr, "  operation %d: %s [%s] is not the default provider's\n", op,
                        ours[j].algorithm_names, ours[j].property_definition);
        }
    }
    free(used);
    return diffs;
}

/* The n-th (from 0) function with id in f; NULL when there are fewer. */
static rc_fn_ptr nth_function(const OSSL_DISPATCH *f, int id, int n)
{
    for (; f->function_id != 0; f++)
        if (f->function_id == id && n-- == 0)
            return f->function;
    return NULL;
}

/*
 * How many of ours's functions are not d's own (the same ids in both, some
 * more than once): 0 for an algorithm offered as the default provider has it.
 */
static int own_functions(const OSSL_DISPATCH *d, const OSSL_DISPATCH *ours)
{
    int own = 0;

    for (const OSSL_DISPATCH *o = ours; o->function_id != 0; o++) {
        int before = 0;

        for (const OSSL_DISPATCH *e = ours; e != o; e++)
            before += e->function_id == o->function_id;
        own += nth_function(d, o->function_id, before) != o->function;
    }
    return own;
}

static bool first_name_is(const char *names, const char *name)
{
    size_t len = strcspn(names, ":");

    return strlen(name) == len && strncasecmp(names, name, len) == 0;
}

static int wrapped_index(int op, const char *names)
{
    for (size_t k = 0; k < ARRAY_LEN(wrapped); k++)
        if (wrapped[k].op == op && first_name_is(names, wrapped[k].name))
            return (int)k;
    return -1;
}

/* The provider parameter "unwrapped" of ringcrypt, in buf. */
static bool unwrapped(char *buf, size_t len)
{
    OSSL_PARAM p[] = { OSSL_PARAM_construct_utf8_string("unwrapped", buf, len),
                       OSSL_PARAM_construct_end() };

    buf[0] = '\0';
    return OSSL_PROVIDER_get_params(rc_prov, p) == 1;
}

/*
 * Compares operation op of both providers: the differences, each printed,
 * and whether each algorithm is wrapped as expected: those of the wrap list
 * (marked in seen[]), but those whose names start with unwrapped_prefix.
 */
static void compare_operation(int op, bool *seen, const char *unwrapped_prefix)
{
    int nc = 0;
    const OSSL_ALGORITHM *d = OSSL_PROVIDER_query_operation(dflt_prov, op, &nc);
    const OSSL_ALGORITHM *ours = OSSL_PROVIDER_query_operation(rc_prov, op, &nc);
    size_t nd = count_algs(d), *match = calloc(nd + 1, sizeof(*match));
    int wraps = 0;

    CHECK(match != NULL, "out of memory");
    CHECK((d == NULL) == (ours == NULL), "operation %d: offered by one provider only", op);
    if (match == NULL || d == NULL || ours == NULL)
        goto out;
    CHECK_EQ(compare_algs(op, d, ours, true, match), 0);
    for (size_t i = 0; i < nd; i++) {
        int k = wrapped_index(op, d[i].algorithm_names);
        int own = own_functions(d[i].implementation, ours[match[i]].implementation);
        bool want = k >= 0
                    && (unwrapped_prefix == NULL
                        || strncmp(d[i].algorithm_names, unwrapped_prefix,
                                   strlen(unwrapped_prefix)) != 0);

        if (k >= 0)
            seen[k] = true;
        wraps += own > 0;
        CHECK(want == (own > 0), "operation %d: %s: %d functions of ringcrypt's, expected %s", op,
              d[i].algorithm_names, own, want ? "some" : "none");
    }
    printf("  operation %2d: %3zu algorithms, %d wrapped\n", op, nd, wraps);
out:
    free(match);
    OSSL_PROVIDER_unquery_operation(dflt_prov, op, d);
    OSSL_PROVIDER_unquery_operation(rc_prov, op, ours);
}

static int same_offers(void)
{
    bool seen[ARRAY_LEN(wrapped)] = { false };
    char why[4096];

    if (!open_both())
        return T_FAIL;
    for (int op = 1; op <= OSSL_OP__HIGHEST; op++)
        compare_operation(op, seen, NULL);
    for (size_t k = 0; k < ARRAY_LEN(wrapped); k++)
        CHECK(seen[k] || OPENSSL_VERSION_NUMBER < wrapped[k].since,
              "the default provider has no %s (operation %d)", wrapped[k].name, wrapped[k].op);
    CHECK(unwrapped(why, sizeof(why)), "no \"unwrapped\" parameter");
    CHECK(why[0] == '\0', "offered without offload:\n%s", why);
    return t_failures ? T_FAIL : T_PASS;
}

/* ---- the comparison notices what it should ------------------------------- */

enum doctor { AS_IS, DROP_ID, EXTRA_ID, DROP_ALG, EXTRA_ALG, OTHER_PROPS };

/* A copy of src as ringcrypt would offer it, then changed as how says (at its first algorithm). */
struct doctored {
    OSSL_ALGORITHM *algs;
    OSSL_DISPATCH (*fns)[MAX_FNS + 2];
    char (*props)[512];
};

static void doctored_free(struct doctored *t)
{
    free(t->algs);
    free(t->fns);
    free(t->props);
}

static bool doctor(const OSSL_ALGORITHM *src, enum doctor how, struct doctored *t)
{
    size_t n = count_algs(src), k = 0;

    t->algs = calloc(n + 2, sizeof(*t->algs));
    t->fns = calloc(n + 1, sizeof(*t->fns));
    t->props = calloc(n + 1, sizeof(*t->props));
    if (t->algs == NULL || t->fns == NULL || t->props == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *p = src[i].property_definition, *at = strstr(p, "provider=default");
        size_t f = 0;

        if (at == NULL)
            snprintf(t->props[i], sizeof(t->props[i]), "%s", p);
        else
            snprintf(t->props[i], sizeof(t->props[i]), "%.*sprovider=ringcrypt%s",
                     (int)(at - p), p, at + strlen("provider=default"));
        for (const OSSL_DISPATCH *d = src[i].implementation + (how == DROP_ID && i == 0);
             d->function_id != 0 && f < MAX_FNS; d++)
            t->fns[i][f++] = *d;
        if (how == EXTRA_ID && i == 0)
            t->fns[i][f] = (OSSL_DISPATCH){ 999, t->fns[i][0].function };
        if (how == DROP_ALG && i == 0)
            continue;
        t->algs[k] = src[i];
        t->algs[k].property_definition = t->props[i];
        t->algs[k++].implementation = t->fns[i];
    }
    if (how == OTHER_PROPS)
        snprintf(t->props[0], sizeof(t->props[0]), "provider=ringcrypt,doctored=yes");
    if (how == EXTRA_ALG)
        t->algs[k] = t->algs[0];
    return true;
}

static int comparison_notices(void)
{
    static const char *const names[] = { "as is", "a function id dropped", "a function id added",
                                         "an algorithm dropped", "an algorithm added",
                                         "a property changed" };
    int nc = 0;
    const OSSL_ALGORITHM *d;

    if (!open_both())
        return T_FAIL;
    d = OSSL_PROVIDER_query_operation(dflt_prov, OSSL_OP_SIGNATURE, &nc);
    CHECK(count_algs(d) > 0, "no signature algorithms");
    for (int how = AS_IS; how <= OTHER_PROPS && count_algs(d) > 0; how++) {
        struct doctored t = { 0 };
        int diffs;

        if (!doctor(d, how, &t)) {
            CHECK(false, "out of memory");
            doctored_free(&t);
            break;
        }
        diffs = compare_algs(OSSL_OP_SIGNATURE, d, t.algs, false, NULL);
        if (how == AS_IS)
            CHECK_EQ(diffs, 0);
        else
            CHECK(diffs > 0, "the comparison missed %s", names[how]);
        doctored_free(&t);
    }
    OSSL_PROVIDER_unquery_operation(dflt_prov, OSSL_OP_SIGNATURE, d);
    return t_failures ? T_FAIL : T_PASS;
}

/* ---- a function ringcrypt cannot forward --------------------------------- */

struct sign_job {
    EVP_PKEY *key;
    size_t siglen;
    unsigned char sig[512];
    const char *signer;      /* the provider that signed */
};

static const unsigned char msg[] = "ringcrypt offers: a message to sign";

/*
 * "?provider=ringcrypt": the default provider's unwrapped functions receive
 * the query too, and fetch their digest in ringcrypt's private library
 * context, where "provider=ringcrypt" would find nothing.
 */
static int sign_in_job(void *arg)
{
    struct sign_job *j = arg;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *p = NULL;

    j->siglen = sizeof(j->sig);
    if (m == NULL
        || EVP_DigestSignInit_ex(m, &p, "SHA256", libctx, "?provider=ringcrypt", j->key, NULL) != 1
        || EVP_DigestSign(m, j->sig, &j->siglen, msg, sizeof(msg)) != 1)
        j->siglen = 0;
    j->signer = p != NULL ? OSSL_PROVIDER_get0_name(EVP_PKEY_CTX_get0_provider(p)) : "none";
    EVP_MD_CTX_free(m);
    return 0;
}

/* A signature with key through ringcrypt in a job, verified by the default provider: offloads. */
static uint64_t sign_offloads(EVP_PKEY *key)
{
    struct sign_job j = { .key = key };
    struct rc_stats before, s;
    EVP_MD_CTX *m = EVP_MD_CTX_new();

    rc_stats_total(&before);
    CHECK_EQ(t_run_job(T_CORE, sign_in_job, &j, JOB_TIMEOUT_MS), 0);
    t_stats_since(&before, &s);
    CHECK(j.siglen > 0 && strcmp(j.signer, "ringcrypt") == 0, "ringcrypt could not sign (%s)",
          j.signer);
    CHECK(m != NULL
              && EVP_DigestVerifyInit_ex(m, NULL, "SHA256", libctx, "provider=default", key, NULL)
                     == 1
              && EVP_DigestVerify(m, j.sig, j.siglen, msg, sizeof(msg)) == 1,
          "the default provider refuses ringcrypt's signature");
    EVP_MD_CTX_free(m);
    t_print_errors("sign");
    return s.submitted;
}

/*
 * RSA's verify_recover made unforwardable (a test hook of the module; it
 * must come before the signature algorithms are built): RSA and RSA-SHA2-*
 * are offered as the default provider has them, "unwrapped" says so, and an
 * RSA signature works without being offloaded, while ECDSA's still is.
 */
static int unforwardable(void)
{
    char why[4096], lines[4200];
    int (*forget)(int operation, int id) = NULL;
    bool seen[ARRAY_LEN(wrapped)] = { false };
    EVP_PKEY *rsa, *ec;

    libctx = OSSL_LIB_CTX_new();
    if (libctx != NULL && OSSL_PROVIDER_set_default_search_path(libctx, t_build_dir()))
        rc_prov = OSSL_PROVIDER_load(libctx, "ringcrypt");
    if (rc_prov != NULL)
        forget = (int (*)(int, int))t_module_symbol("rc_testing_forget_forwarder");
    if (forget == NULL) {
        CHECK(false, "no rc_testing_forget_forwarder");
        return T_FAIL;
    }
    CHECK_EQ(forget(OSSL_OP_SIGNATURE, OSSL_FUNC_SIGNATURE_VERIFY_RECOVER), 0);
    dflt_prov = OSSL_PROVIDER_load(libctx, "default");
    CHECK(dflt_prov != NULL, "cannot load the default provider");
    if (t_failures)
        return T_FAIL;
    compare_operation(OSSL_OP_SIGNATURE, seen, "RSA");
    CHECK(unwrapped(why, sizeof(why)), "no \"unwrapped\" parameter");
    snprintf(lines, sizeof(lines), "\n%s", why);
    for (size_t k = 0; k < ARRAY_LEN(wrapped); k++) {
        char line[128];

        snprintf(line, sizeof(line), "\n%s (operation %d): function %d has no forwarder\n",
                 wrapped[k].name, wrapped[k].op, OSSL_FUNC_SIGNATURE_VERIFY_RECOVER);
        CHECK((strstr(lines, line) != NULL)
                  == (seen[k] && strncmp(wrapped[k].name, "RSA", 3) == 0),
              "\"unwrapped\" is wrong about %s: %s", wrapped[k].name, why);
    }
    CHECK_EQ(forget(OSSL_OP_SIGNATURE, OSSL_FUNC_SIGNATURE_SIGN), -EBUSY);

    rsa = EVP_PKEY_Q_keygen(libctx, "provider=ringcrypt", "RSA", (size_t)2048);
    ec = EVP_PKEY_Q_keygen(libctx, "provider=ringcrypt", "EC", "P-256");
    CHECK(rsa != NULL && ec != NULL, "keys");
    if (rsa != NULL && ec != NULL) {
        CHECK_EQ(sign_offloads(rsa), 0);
        CHECK(sign_offloads(ec) >= 1, "ECDSA, still wrapped, was not offloaded");
    }
    /* Workers may hold the last reference to a key until they are joined (see kat.c). */
    rc_shutdown();
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    return t_failures ? T_FAIL : T_PASS;
}

/* ---- functions later releases added ------------------------------------- */

#if defined(OSSL_FUNC_DIGEST_COPYCTX) || defined(OSSL_FUNC_DIGEST_SERIALIZE)
static const char part1[] = "ringcrypt offers: the first part, ", part2[] = "and the second";

/* A SHA2-256 context of the provider props picks, given part1. */
static EVP_MD_CTX *digest_started(const char *props)
{
    EVP_MD *md = EVP_MD_fetch(libctx, "SHA2-256", props);
    EVP_MD_CTX *m = EVP_MD_CTX_new();

    if (md == NULL || m == NULL || EVP_DigestInit_ex2(m, md, NULL) != 1
        || EVP_DigestUpdate(m, part1, strlen(part1)) != 1) {
        EVP_MD_CTX_free(m);
        m = NULL;
    }
    EVP_MD_free(md);
    return m;
}

/* Whether m, given part2, ends with the default provider's digest of part1 and part2. */
static bool digest_ends_right(EVP_MD_CTX *m)
{
    unsigned char want[32], got[32];
    unsigned int n = 0;
    EVP_MD_CTX *ref = digest_started("provider=default");
    bool ok = ref != NULL && EVP_DigestUpdate(ref, part2, strlen(part2)) == 1
              && EVP_DigestFinal_ex(ref, want, &n) == 1 && m != NULL
              && EVP_DigestUpdate(m, part2, strlen(part2)) == 1
              && EVP_DigestFinal_ex(m, got, &n) == 1 && n == 32 && memcmp(got, want, 32) == 0;

    EVP_MD_CTX_free(ref);
    return ok;
}
#endif

#ifdef OSSL_FUNC_DIGEST_COPYCTX /* OpenSSL 3.5 */
/* EVP_MD_CTX_copy_ex into a context of the same digest: copyctx. */
static void digest_copyctx(void)
{
    EVP_MD_CTX *from = digest_started("provider=ringcrypt");
    EVP_MD_CTX *to = digest_started("provider=ringcrypt");

    CHECK(from != NULL && to != NULL && EVP_DigestUpdate(to, "other", 5) == 1
              && EVP_MD_CTX_copy_ex(to, from) == 1,
          "copy");
    CHECK(digest_ends_right(to), "the copy goes on to another digest");
    CHECK(digest_ends_right(from), "the original goes on to another digest");
    EVP_MD_CTX_free(from);
    EVP_MD_CTX_free(to);
    printf("  copyctx: checked\n");
}
#endif

#ifdef OSSL_FUNC_DIGEST_SERIALIZE /* OpenSSL 4.0 */
/*
 * A state serialized from ringcrypt's SHA2-256 carries on in ringcrypt's and
 * in the default provider's; a state that is not one is refused.
 */
static void digest_serialize(void)
{
    static const unsigned char junk[] = "not a SHA-256 state";
    unsigned char state[1024];
    size_t n = sizeof(state);
    EVP_MD_CTX *m = digest_started("provider=ringcrypt");
    EVP_MD_CTX *ours = digest_started("provider=ringcrypt");
    EVP_MD_CTX *theirs = digest_started("provider=default");

    CHECK(m != NULL && EVP_MD_CTX_serialize(m, state, &n) == 1 && n > 0, "serialize");
    CHECK(ours != NULL && EVP_DigestUpdate(ours, "other", 5) == 1
              && EVP_MD_CTX_deserialize(ours, state, n) == 1 && digest_ends_right(ours),
          "ringcrypt's deserialized state goes on to another digest");
    CHECK(theirs != NULL && EVP_MD_CTX_deserialize(theirs, state, n) == 1
              && digest_ends_right(theirs),
          "the default provider's deserialized state goes on to another digest");
    CHECK(digest_ends_right(m), "the serialized context goes on to another digest");
    EVP_MD_CTX_free(ours);
    ours = digest_started("provider=ringcrypt");
    CHECK(ours != NULL && EVP_MD_CTX_deserialize(ours, junk, sizeof(junk)) != 1,
          "ringcrypt took a state that is not one");
    ERR_clear_error();
    EVP_MD_CTX_free(m);
    EVP_MD_CTX_free(ours);
    EVP_MD_CTX_free(theirs);
    printf("  serialize, deserialize: checked\n");
}
#endif

#ifdef OSSL_FUNC_CIPHER_ENCRYPT_SKEY_INIT /* OpenSSL 3.5 */
#define SKEY_DATA (64 * 1024)

struct skey_run {
    EVP_SKEY *skey;
    unsigned char key[16], iv[16];
    unsigned char *pt, *ct, *back;
    int ctlen, backlen;
};

/* AES-128-CBC with an EVP_SKEY through ringcrypt, both ways: big enough to be offloaded. */
static int skey_crypt(void *arg)
{
    struct skey_run *r = arg;
    EVP_CIPHER *aes = EVP_CIPHER_fetch(libctx, "AES-128-CBC", "provider=ringcrypt");
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;

    r->ctlen = r->backlen = -1;
    if (aes != NULL && x != NULL && EVP_CipherInit_SKEY(x, aes, r->skey, r->iv, 16, 1, NULL) == 1
        && EVP_CipherUpdate(x, r->ct, &n, r->pt, SKEY_DATA) == 1
        && EVP_CipherFinal_ex(x, r->ct + n, &fin) == 1)
        r->ctlen = n + fin;
    if (r->ctlen > 0 && EVP_CipherInit_SKEY(x, aes, r->skey, r->iv, 16, 0, NULL) == 1
        && EVP_CipherUpdate(x, r->back, &n, r->ct, r->ctlen) == 1
        && EVP_CipherFinal_ex(x, r->back + n, &fin) == 1)
        r->backlen = n + fin;
    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_free(aes);
    return 0;
}

/* A key as an object: ringcrypt's cipher with it is the default provider's with its bytes. */
static void cipher_skey(void)
{
    struct skey_run r = { 0 };
    unsigned char *want = malloc(SKEY_DATA + 16);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    EVP_CIPHER *aes = EVP_CIPHER_fetch(libctx, "AES-128-CBC", "provider=default");
    struct rc_stats before, s;
    int n = 0, fin = 0;

    r.pt = malloc(SKEY_DATA);
    r.ct = malloc(SKEY_DATA + 16);
    r.back = malloc(SKEY_DATA + 16);
    if (want == NULL || r.pt == NULL || r.ct == NULL || r.back == NULL || x == NULL
        || aes == NULL) {
        CHECK(false, "set-up");
        goto out;
    }
    memset(r.key, 0x5a, sizeof(r.key));
    memset(r.iv, 0xa5, sizeof(r.iv));
    for (int i = 0; i < SKEY_DATA; i++)
        r.pt[i] = (unsigned char)(i * 7);
    r.skey = EVP_SKEY_import_raw_key(libctx, "AES", r.key, sizeof(r.key), "provider=ringcrypt");
    CHECK(r.skey != NULL, "EVP_SKEY_import_raw_key");
    CHECK(EVP_CipherInit_ex2(x, aes, r.key, r.iv, 1, NULL) == 1
              && EVP_CipherUpdate(x, want, &n, r.pt, SKEY_DATA) == 1
              && EVP_CipherFinal_ex(x, want + n, &fin) == 1,
          "the default provider's AES-128-CBC");
    rc_stats_total(&before);
    CHECK_EQ(t_run_job(T_CORE, skey_crypt, &r, JOB_TIMEOUT_MS), 0);
    t_stats_since(&before, &s);
    CHECK(r.ctlen == n + fin && memcmp(r.ct, want, (size_t)r.ctlen) == 0,
          "ringcrypt's ciphertext (%d bytes) differs", r.ctlen);
    CHECK(r.backlen == SKEY_DATA && memcmp(r.back, r.pt, SKEY_DATA) == 0,
          "ringcrypt did not decrypt its own ciphertext");
    CHECK(s.submitted >= 2, "submitted %llu, want both data calls",
          (unsigned long long)s.submitted);
    printf("  encrypt_skey_init, decrypt_skey_init: checked\n");
out:
    t_print_errors("skey");
    rc_shutdown(); /* workers hold the key's last references until joined */
    EVP_SKEY_free(r.skey);
    EVP_CIPHER_free(aes);
    EVP_CIPHER_CTX_free(x);
    free(want);
    free(r.pt);
    free(r.ct);
    free(r.back);
}
#endif

#ifdef OSSL_FUNC_KEYEXCH_DERIVE_SKEY /* OpenSSL 4.0 */
/* ECDH deriving a key object through ringcrypt: the default provider's secret, as its bytes. */
static void keyexch_derive_skey(void)
{
    EVP_PKEY *a = EVP_PKEY_Q_keygen(libctx, "provider=ringcrypt", "EC", "P-256");
    EVP_PKEY *b = EVP_PKEY_Q_keygen(libctx, "provider=ringcrypt", "EC", "P-256");
    EVP_PKEY_CTX *ours = a != NULL ? EVP_PKEY_CTX_new_from_pkey(libctx, a, "provider=ringcrypt")
                                   : NULL;
    EVP_PKEY_CTX *ref = a != NULL ? EVP_PKEY_CTX_new_from_pkey(libctx, a, "provider=default")
                                  : NULL;
    EVP_SKEY *skey = NULL;
    const unsigned char *raw = NULL;
    unsigned char want[64];
    size_t rawlen = 0, n = sizeof(want);

    CHECK(ref != NULL && EVP_PKEY_derive_init(ref) == 1 && EVP_PKEY_derive_set_peer(ref, b) == 1
              && EVP_PKEY_derive(ref, want, &n) == 1,
          "the default provider's ECDH");
    CHECK(ours != NULL && EVP_PKEY_derive_init(ours) == 1
              && EVP_PKEY_derive_set_peer(ours, b) == 1,
          "ringcrypt's ECDH");
    if (t_failures == 0)
        skey = EVP_PKEY_derive_SKEY(ours, NULL, "GENERIC-SECRET", "provider=ringcrypt", n, NULL);
    CHECK(skey != NULL && EVP_SKEY_get0_raw_key(skey, &raw, &rawlen) == 1 && rawlen == n
              && memcmp(raw, want, n) == 0,
          "ringcrypt's derived key object is not the default provider's secret");
    t_print_errors("derive_skey");
    EVP_SKEY_free(skey);
    EVP_PKEY_CTX_free(ours);
    EVP_PKEY_CTX_free(ref);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    printf("  derive_skey: checked\n");
}
#endif

/* One function per release feature; the scenario skips where the release has none of them. */
static void (*const new_functions_of_release[])(void) = {
#ifdef OSSL_FUNC_DIGEST_COPYCTX
    digest_copyctx,
#endif
#ifdef OSSL_FUNC_DIGEST_SERIALIZE
    digest_serialize,
#endif
#ifdef OSSL_FUNC_KEYEXCH_DERIVE_SKEY
    keyexch_derive_skey,
#endif
#ifdef OSSL_FUNC_CIPHER_ENCRYPT_SKEY_INIT
    cipher_skey, /* last: it joins the workers */
#endif
    NULL,
};

static int new_functions(void)
{
    if (new_functions_of_release[0] == NULL) {
        fprintf(stderr, "%s adds no function to the algorithms ringcrypt wraps\n",
                OPENSSL_VERSION_TEXT);
        return T_SKIP;
    }
    if (!open_both())
        return T_FAIL;
    for (size_t i = 0; new_functions_of_release[i] != NULL; i++)
        new_functions_of_release[i]();
    CHECK(ERR_peek_error() == 0, "errors left on the queue");
    t_print_errors("new functions");
    return t_failures ? T_FAIL : T_PASS;
}

/* The data calls of the skey check are offloaded whatever their size. */
static const char *const offload_all[] = { "RINGCRYPT_MIN_OFFLOAD_BYTES=0", NULL };

static const struct scenario scenarios[] = {
    { "same_offers", same_offers, NULL },
    { "comparison_notices", comparison_notices, NULL },
    { "unforwardable_offered_unwrapped", unforwardable, NULL },
    { "new_functions", new_functions, offload_all },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
