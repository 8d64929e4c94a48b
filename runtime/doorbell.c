#include "doorbell.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ring.h"

int rc_doorbell_init(struct rc_doorbell *db, void (*on_ring)(struct rc_event *, int, unsigned int))
{
    db->efd = eventfd(0, EFD_CLOEXEC);
    if (db->efd < 0)
        return -errno;
    db->count = 0;
    db->ev.fn = on_ring;
    atomic_init(&db->inbox.head, NULL);
    return 0;
}

void rc_doorbell_close(struct rc_doorbell *db)
{
    if (db->efd >= 0)
        close(db->efd);
    db->efd = -1;
}

int rc_doorbell_arm(struct rc_doorbell *db, struct io_uring *ring)
{
    struct io_uring_sqe *sqe = rc_ring_sqe(ring);

    if (sqe == NULL)
        return -EAGAIN;
    io_uring_prep_read(sqe, db->efd, &db->count, sizeof(db->count), 0);
    io_uring_sqe_set_data(sqe, &db->ev);
    return 0;
}

void rc_doorbell_ring(struct rc_doorbell *db)
{
    static const uint64_t one = 1;

    /* Cannot fail short of a closed fd: the counter would need 2^64-1 rings. */
    (void)!write(db->efd, &one, sizeof(one));
}

void rc_doorbell_post(struct rc_doorbell *db, struct rc_snode *node)
{
    if (rc_mpsc_push(&db->inbox, node))
        rc_doorbell_ring(db);
}
