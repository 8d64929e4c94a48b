#include "req.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>

#include "backend_afalg.h"
#include "waiter.h"

struct rc_req *rc_req_new(rc_work_fn fn, size_t ctx_size, void (*release)(void *ctx))
{
    struct rc_req *req;

    if (fn == NULL || ctx_size > SIZE_MAX - sizeof(*req)) {
        errno = EINVAL;
        return NULL;
    }
    req = calloc(1, sizeof(*req) + ctx_size);
    if (req == NULL)
        return NULL;
    req->fn = fn;
    req->release = release;
    req->ctx_size = ctx_size;
    atomic_init(&req->refs, 1);
    return req;
}

void *rc_req_ctx(struct rc_req *req)
{
    return req->ctx;
}

void rc_req_get(struct rc_req *req)
{
    atomic_fetch_add_explicit(&req->refs, 1, memory_order_relaxed);
}

void rc_req_put(struct rc_req *req)
{
    if (atomic_fetch_sub_explicit(&req->refs, 1, memory_order_acq_rel) != 1)
        return;
    rc_kstate_free(req->kernel);
    if (req->release != NULL)
        req->release(req->ctx);
    OPENSSL_cleanse(req->ctx, req->ctx_size);
    if (req->waiter != NULL)
        rc_waiter_put(req->waiter);
    free(req);
}

void rc_req_free(struct rc_req *req)
{
    if (req != NULL)
        rc_req_put(req);
}
