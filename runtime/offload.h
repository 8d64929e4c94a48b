/* The ASYNC protocol: the job's side (rc_offload) and the completing side (rc_req_finish). */
#ifndef RC_OFFLOAD_H
#define RC_OFFLOAD_H

#include "req.h"

/* The wait ctx of req's paused job was freed: the job will never run again. */
void rc_offload_abandon(struct rc_req *req);

void rc_offload_forget_after_fork(void);

#endif
