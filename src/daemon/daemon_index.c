/* Finding jobs: by name, and which run after which. Both are asked at every
 * run's end and by the cluster's worker at every start, so neither may look
 * at every job (100,000 jobs x a burst of runs). */
#include "daemon_int.h"

#include "../common/common.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(const sk_daemon_t *d, const char *name)
{
    return (size_t)sk_fnv64(SK_FNV64_INIT, name, strlen(name)) & d->by_name_mask;
}

/* Puts j in the index, which has a free slot. */
static void index_put(sk_daemon_t *d, sk_jobrt_t *j)
{
    size_t i = slot_of(d, j->name);
    while (d->by_name[i])
        i = (i + 1) & d->by_name_mask;
    d->by_name[i] = j;
}

sk_jobrt_t *sk_daemon__job(sk_daemon_t *d, const char *name)
{
    if (!d->by_name)
        return NULL;
    for (size_t i = slot_of(d, name); d->by_name[i]; i = (i + 1) & d->by_name_mask)
        if (strcmp(d->by_name[i]->name, name) == 0)
            return d->by_name[i];
    return NULL;
}

void sk_daemon__jobs_add(sk_daemon_t *d, sk_jobrt_t *j)
{
    if (d->njobs == d->jobs_cap) {
        d->jobs_cap = d->jobs_cap ? d->jobs_cap * 2 : 64;
        d->jobs = sk_xrealloc(d->jobs, d->jobs_cap * sizeof(*d->jobs));
    }
    d->jobs[d->njobs++] = j;
    /* At most half full, so a probe ends soon; grown by doubling. */
    size_t cap = d->by_name ? d->by_name_mask + 1 : 0;
    if (2 * d->njobs > cap) {
        size_t ncap = cap ? cap * 2 : 128;
        free(d->by_name);
        d->by_name = sk_xcalloc(ncap, sizeof(*d->by_name));
        d->by_name_mask = ncap - 1;
        for (size_t i = 0; i + 1 < d->njobs; i++)
            index_put(d, d->jobs[i]);
    }
    index_put(d, j);
}

void sk_daemon__link_jobs(sk_daemon_t *d)
{
    for (size_t i = 0; i < d->njobs; i++)
        d->jobs[i]->ndown = 0;
    for (size_t i = 0; i < d->njobs; i++) {
        sk_jobrt_t *k = d->jobs[i];
        for (size_t a = 0; k->cfg && a < k->cfg->nafter; a++) {
            sk_jobrt_t *up = sk_daemon__job(d, k->cfg->after[a]);
            if (!up)
                continue; /* the config checks that it names a job: not reached */
            if (up->ndown == up->down_cap) {
                up->down_cap = up->down_cap ? up->down_cap * 2 : 2;
                up->down = sk_xrealloc(up->down, up->down_cap * sizeof(*up->down));
            }
            up->down[up->ndown++] = k;
        }
    }
}

void sk_daemon__jobs_free(sk_daemon_t *d)
{
    for (size_t i = 0; i < d->njobs; i++) {
        free(d->jobs[i]->last_alert);
        free(d->jobs[i]->down);
        free(d->jobs[i]);
    }
    free(d->jobs);
    free(d->by_name);
}
