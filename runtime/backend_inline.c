/*
 * The inline backend: the work function on the calling thread, when the
 * configuration says so (RINGCRYPT_BACKEND=inline) and wherever placement
 * finds nothing to gain from another thread.
 */
#include "backend.h"
#include "runtime.h"

static bool takes(const struct rc_req *req)
{
    (void)req;
    return rc_runtime_inline();
}

static int run_here(struct rc_req *req, struct rc_core *core, int *result)
{
    (void)core;
    *result = req->fn(req->ctx);
    return 0;
}

static void describe(const struct rc_config *cfg, struct rc_info *out)
{
    if (cfg->backend != RC_BACKEND_INLINE)
        return;
    out->backend = "inline";
    out->transport = "none";
}

const struct rc_backend rc_backend_inline = {
    .name = "inline",
    .id = RC_BACKEND_ID_INLINE,
    .takes = takes,
    .run_here = run_here,
    .describe = describe,
};
