#include "op.h"

#include <errno.h>
#include <openssl/async.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "counting.h"
#include "errors.h"
#include "ringcrypt.h"

/* Errors a call raised on the thread that ran it, to raise again at home. */
#define CARRIED_MAX 4

struct carried {
    unsigned long code;
    /* Copies: the error queue owns its strings and frees them with its next error. */
    char file[128], func[64];
    int line;
    char data[128];
};

struct op_req {
    struct rc_op op;
    pthread_t caller;            /* errors raised on another thread travel home */
    int nerr;
    struct carried err[CARRIED_MAX];
    struct rc_kernel_op kop;
    unsigned char buf[];         /* the input, then room for the output */
};

static void carry_errors(struct op_req *r)
{
    unsigned long code;
    const char *file, *func, *data;
    int line, flags;

    while ((code = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
        struct carried *c;

        if (r->nerr == CARRIED_MAX)
            continue;
        c = &r->err[r->nerr++];
        c->code = code;
        snprintf(c->file, sizeof(c->file), "%s", file != NULL ? file : "");
        snprintf(c->func, sizeof(c->func), "%s", func != NULL ? func : "");
        c->line = line;
        snprintf(c->data, sizeof(c->data), "%s", (flags & ERR_TXT_STRING) ? data : "");
    }
}

static void raise_carried(const struct op_req *r)
{
    for (int i = 0; i < r->nerr; i++) {
        const struct carried *c = &r->err[i];

        ERR_new();
        ERR_set_debug(c->file, c->line, c->func);
        ERR_set_error(ERR_GET_LIB(c->code), ERR_GET_REASON(c->code),
                      c->data[0] != '\0' ? "%s" : NULL, c->data);
    }
}

/* The request's work, on whichever thread the backend runs it. */
static int op_work(void *ctx)
{
    struct op_req *r = ctx;
    int ok = r->op.exec(&r->op);

    /* On the caller's own thread (an inline backend) they are home already. */
    if (!pthread_equal(pthread_self(), r->caller))
        carry_errors(r);
    /* The runtime never returns -EPROTO itself: it means "the call said no". */
    return ok ? 0 : -EPROTO;
}

static void op_release(void *ctx)
{
    struct op_req *r = ctx;

    if (r->op.made != NULL)
        r->op.made_free(r->op.made, r->op.obj);
    if (r->op.drop != NULL)
        r->op.drop(r->op.obj);
    /* Inputs and outputs (keys, shared secrets, plaintext) go with the request's ctx, wiped. */
}

size_t rc_op_min_offload_bytes(void)
{
    struct rc_info info;

    /* A configuration that does not load keeps everything inline; offloads report it. */
    return rc_info(&info) == 0 ? info.min_offload_bytes : SIZE_MAX;
}

/*
 * Without a core, the kernel's form runs on this thread's own ring, in place:
 * no request, no copies (ringcrypt.h, rc_kernel_run). 1 or 0 as OpenSSL
 * expects, or -1 when the kernel does not take it here.
 */
static int run_here(struct rc_op *op)
{
    struct rc_kernel_op k = *op->kernel;
    int rc;

    k.in = op->in;
    k.inlen = op->inlen;
    k.out = op->out;
    k.outsize = op->outsize;
    rc = rc_kernel_run(&k);
    if (rc == 0) {
        op->by_kernel = true;
        op->outlen = k.outlen;
        return 1;
    }
    if (rc == -EBADMSG) {
        op->kernel_said_no = true;
        return 0;
    }
    if (rc != -ETIMEDOUT)
        return -1;
    /* The kernel let go of the buffers before it answered: nothing is left running. */
    rc_err_raise_errno(ETIMEDOUT);
    return 0;
}

int rc_op_run(struct rc_op *op, bool worth_offloading)
{
    struct rc_req *req = NULL;
    struct op_req *r;
    bool in_place;
    size_t buflen;
    int rc;

    if (!worth_offloading)
        return op->exec(op);
    if (ASYNC_get_current_job() == NULL || (op->kernel == NULL && rc_offload_here() == 1)) {
        /*
         * A synchronous caller, or one whose request placement would run
         * here anyway: on the caller's own buffers, with no request to copy
         * them into. Counted, so its counters show ringcrypt is in the path.
         */
        rc_count_inline();
        return op->exec(op);
    }
    if (op->kernel != NULL && rc_core_current() == NULL && (rc = run_here(op)) >= 0)
        return rc;

    if (op->inlen > RC_OP_MAX_BYTES || op->outsize > RC_OP_MAX_BYTES
        || op->out2size > RC_OP_MAX_BYTES) {
        rc_err_raise(RC_R_TOO_LARGE, "%zu bytes in, %zu out", op->inlen,
                     op->outsize + op->out2size);
        rc = -E2BIG;
        goto out;
    }
    /* In place stays in place: OpenSSL's TLS record ciphers insist on it. */
    in_place = op->out != NULL && op->out == op->in;
    buflen = in_place ? (op->inlen > op->outsize ? op->inlen : op->outsize)
                      : op->inlen + (op->out != NULL ? op->outsize : 0);
    buflen += op->out2 != NULL ? op->out2size : 0;
    req = rc_req_new(op_work, sizeof(*r) + buflen, op_release);
    if (req == NULL) {
        rc_err_raise(RC_R_NO_MEMORY, "request of %zu bytes", buflen);
        rc = -ENOMEM;
        goto out;
    }
    r = rc_req_ctx(req);
    r->op = *op;
    r->caller = pthread_self();
    if (op->inlen > 0)
        memcpy(r->buf, op->in, op->inlen);
    r->op.in = r->buf;
    r->op.out = op->out == NULL ? NULL : in_place ? r->buf : r->buf + op->inlen;
    r->op.out2 = op->out2 == NULL ? NULL : r->buf + buflen - op->out2size;
    if (op->hold != NULL)
        op->hold(op->obj);
    if (op->kernel != NULL) {
        r->op.kernel = &r->kop; /* the caller's may not outlive it */
        r->kop = *op->kernel;
        r->kop.in = r->op.in;
        r->kop.inlen = r->op.inlen;
        r->kop.out = r->op.out;
        r->kop.outsize = r->op.outsize;
        /* A form the kernel cannot take leaves the call to exec. */
        (void)rc_req_set_kernel(req, &r->kop);
    }

    rc = rc_offload(req);
    if (rc == -EBADMSG) {
        op->kernel_said_no = true;
        rc = 0;
        goto out;
    }
    if (rc == 0 || rc == -EPROTO) {
        raise_carried(r);
        if (r->kop.by_kernel) {
            op->by_kernel = true;
            r->op.outlen = r->kop.outlen;
        }
        /* In place, a result may sit after a header it did not count (TLS 1.2's explicit IV). */
        if (rc == 0 && op->out != NULL)
            memcpy(op->out, r->op.out,
                   in_place && op->inlen > r->op.outlen ? op->inlen : r->op.outlen);
        if (rc == 0 && op->out2 != NULL)
            memcpy(op->out2, r->op.out2, r->op.out2len);
        op->outlen = r->op.outlen;
        op->out2len = r->op.out2len;
        op->made = r->op.made;
        r->op.made = NULL;
        rc = rc == 0;
        goto out;
    }
    if (rc == -EINVAL)
        rc_err_raise(RC_R_BAD_CONFIG, "%s", rc_last_error());
    else
        rc_err_raise_errno(-rc);
out:
    rc_req_free(req);
    return rc;
}
