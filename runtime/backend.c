#include "backend.h"

#include <errno.h>

const struct rc_backend *const rc_backends[RC_BACKEND_IDS] = {
    [RC_BACKEND_ID_INLINE] = &rc_backend_inline,
    [RC_BACKEND_ID_AFALG] = &rc_backend_afalg,
    [RC_BACKEND_ID_WORKER] = &rc_backend_worker,
};

static const struct rc_backend *first_from(const struct rc_req *req, unsigned int i)
{
    for (; i < RC_BACKEND_IDS; i++)
        if (rc_backends[i]->takes(req))
            return rc_backends[i];
    return NULL;
}

const struct rc_backend *rc_backend_for(const struct rc_req *req)
{
    return first_from(req, 0);
}

int rc_backend_fallback(struct rc_req *req)
{
    const struct rc_backend *next = first_from(req, (unsigned int)req->backend->id + 1);

    if (next == NULL || next->submit == NULL)
        return -EOPNOTSUPP;
    req->backend = next;
    return next->submit(req);
}

bool rc_backend_owns_event(const struct rc_event *ev)
{
    for (unsigned int i = 0; i < RC_BACKEND_IDS; i++)
        if (rc_backends[i]->owns_event != NULL && rc_backends[i]->owns_event(ev))
            return true;
    return false;
}
