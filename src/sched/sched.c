/*
 * Next-due computation per trigger kind, the `every:` anchor rule, and a
 * binary min-heap of embedded nodes with O(log n) insert, update and removal
 * by index. The decisions about due instants are in sched_fire.c.
 */
#include "sched.h"

int sk_sched_next(const sk_job_cfg_t *job, int64_t anchor_ms, int64_t after_ms, int64_t *ret_ms)
{
    switch (job->trigger) {
    case SK_TRIGGER_CRON: {
        int64_t best = INT64_MAX;
        /* Cron has second precision: anything within the second after_ms is
         * in counts as that second. */
        int64_t after_s = after_ms >= 0 ? after_ms / 1000 : -((-after_ms + 999) / 1000);
        for (size_t i = 0; i < job->ncron; i++) {
            int64_t t;
            if (sk_cron_next(&job->crons[i], job->tz, after_s, &t) == 0 && t * 1000 < best)
                best = t * 1000;
        }
        if (best == INT64_MAX)
            return SK_ENEVER;
        *ret_ms = best;
        return 0;
    }
    case SK_TRIGGER_EVERY: {
        int64_t start = job->start_ms ? job->start_ms : anchor_ms;
        if (job->every_ms <= 0)
            return SK_ENEVER;
        if (after_ms < start) {
            *ret_ms = start;
            return 0;
        }
        int64_t k = (after_ms - start) / job->every_ms + 1;
        *ret_ms = start + k * job->every_ms;
        return 0;
    }
    case SK_TRIGGER_AT:
        if (job->at_ms > after_ms) {
            *ret_ms = job->at_ms;
            return 0;
        }
        return SK_ENEVER;
    case SK_TRIGGER_NONE:
    default:
        return SK_ENEVER;
    }
}

int64_t sk_sched_anchor(const sk_job_cfg_t *job, int64_t last_fire_ms, int64_t now_ms)
{
    if (job->trigger == SK_TRIGGER_EVERY && !job->start_ms && last_fire_ms > 0)
        return last_fire_ms;
    /* A whole second: floor, also before 1970. */
    int64_t sub = now_ms % 1000;
    return now_ms - (sub < 0 ? sub + 1000 : sub);
}

void sk_heap_init(sk_heap_t *h)
{
    memset(h, 0, sizeof(*h));
}

void sk_heap_release(sk_heap_t *h)
{
    for (size_t i = 0; i < h->n; i++)
        h->items[i]->idx = SIZE_MAX;
    free(h->items);
    memset(h, 0, sizeof(*h));
}

static void place(sk_heap_t *h, size_t i, sk_heap_node_t *node)
{
    h->items[i] = node;
    node->idx = i;
}

static void sift_up(sk_heap_t *h, size_t i)
{
    sk_heap_node_t *node = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->key <= node->key)
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, node);
}

static void sift_down(sk_heap_t *h, size_t i)
{
    sk_heap_node_t *node = h->items[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        int64_t mk = node->key;
        if (l < h->n && h->items[l]->key < mk)
            m = l, mk = h->items[l]->key;
        if (r < h->n && h->items[r]->key < mk)
            m = r;
        if (m == i)
            break;
        place(h, i, h->items[m]);
        i = m;
    }
    place(h, i, node);
}

void sk_heap_set(sk_heap_t *h, sk_heap_node_t *node, int64_t key)
{
    if (node->idx != SIZE_MAX && node->idx < h->n && h->items[node->idx] == node) {
        int64_t old = node->key;
        node->key = key;
        if (key < old)
            sift_up(h, node->idx);
        else
            sift_down(h, node->idx);
        return;
    }
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->items = sk_xrealloc(h->items, h->cap * sizeof(*h->items));
    }
    node->key = key;
    place(h, h->n++, node);
    sift_up(h, h->n - 1);
}

void sk_heap_remove(sk_heap_t *h, sk_heap_node_t *node)
{
    size_t i = node->idx;
    if (i == SIZE_MAX || i >= h->n || h->items[i] != node)
        return;
    node->idx = SIZE_MAX;
    h->n--;
    if (i == h->n)
        return;
    sk_heap_node_t *moved = h->items[h->n];
    place(h, i, moved);
    sift_up(h, i);
    sift_down(h, moved->idx);
}

sk_heap_node_t *sk_heap_top(const sk_heap_t *h)
{
    return h->n ? h->items[0] : NULL;
}
