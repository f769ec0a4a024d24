/*
 * Trigger arithmetic and the fire heap. sk_sched_next answers "when is this
 * job next due after instant T" for cron, every and at triggers; the heap
 * orders jobs by their next due instant so the daemon arms one timer for the
 * earliest. Pure: no I/O, no libuv.
 */
#ifndef SK_SCHED_H
#define SK_SCHED_H

#include "../config/config.h"

/*
 * The first scheduled instant of job strictly after after_ms (unix ms).
 * every: start + k * every (start defaults to anchor_ms, the time the job was
 * first seen); cron: the earliest of its expressions (second precision);
 * at: the instant if it is after after_ms. Returns 0 or SK_ENEVER (no
 * trigger, @reboot only, or nothing left).
 */
int sk_sched_next(const sk_job_cfg_t *job, int64_t anchor_ms, int64_t after_ms, int64_t *ret_ms);

/* A node embedded in whatever the heap orders; key is the due instant. */
typedef struct sk_heap_node {
    int64_t key;
    size_t idx; /* position in the heap; SIZE_MAX when not in it */
} sk_heap_node_t;

typedef struct sk_heap {
    sk_heap_node_t **items;
    size_t n, cap;
} sk_heap_t;

void sk_heap_init(sk_heap_t *h);
void sk_heap_release(sk_heap_t *h);
/* Inserts node, or moves it if already in the heap, with the new key. */
void sk_heap_set(sk_heap_t *h, sk_heap_node_t *node, int64_t key);
void sk_heap_remove(sk_heap_t *h, sk_heap_node_t *node);
/* The node with the smallest key, or NULL. */
sk_heap_node_t *sk_heap_top(const sk_heap_t *h);

#define SK_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
