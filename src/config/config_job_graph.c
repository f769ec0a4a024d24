/*
 * The graphs of sked.yaml: after: between jobs, needs: between steps.
 * Holds the index from names to their place in the file, the cycle search
 * both graphs use and the text that names a cycle, and after: itself:
 * parsed, each name resolved once against every job of the file, and the
 * jobs checked for cycles once all are built. Exports sk_config__names_*,
 * sk_config__find_cycles, sk_config__cycle_text, sk_config__job_after and
 * sk_config__after_cycles (config_job.h).
 */
#include "config_job.h"

/* -------------------------------------------------------------------------------------------- */
/* Names */

static int name_ix_cmp(const void *a, const void *b)
{
    return strcmp(((const name_ix_t *)a)->name, ((const name_ix_t *)b)->name);
}

void sk_config__names_init(names_t *ns, const char **list, size_t n)
{
    ns->v = sk_xmalloc((n ? n : 1) * sizeof(*ns->v));
    ns->list = list;
    ns->n = n;
    for (size_t i = 0; i < n; i++)
        ns->v[i] = (name_ix_t){list[i], i};
    qsort(ns->v, ns->n, sizeof(*ns->v), name_ix_cmp);
}

void sk_config__names_release(names_t *ns)
{
    free(ns->v);
    memset(ns, 0, sizeof(*ns));
}

long sk_config__names_find(const names_t *ns, const char *name)
{
    name_ix_t want = {name, 0};
    const name_ix_t *hit = bsearch(&want, ns->v, ns->n, sizeof(*ns->v), name_ix_cmp);
    return hit ? (long)hit->ix : -1;
}

/* -------------------------------------------------------------------------------------------- */
/* Cycles (needs: between steps, after: between jobs) */

void sk_config__find_cycles(size_t n, size_t *const *adj, const size_t *nadj, cycle_cb found,
                            void *ctx)
{
    unsigned char *color = sk_xcalloc(n ? n : 1, 1); /* 0 new, 1 on the path, 2 done */
    size_t *path = sk_xmalloc((n ? n : 1) * sizeof(*path));
    size_t *next = sk_xcalloc(n ? n : 1, sizeof(*next)); /* each node's next edge */
    size_t *depth = sk_xmalloc((n ? n : 1) * sizeof(*depth));
    for (size_t root = 0; root < n; root++) {
        if (color[root])
            continue;
        size_t top = 0;
        path[top++] = root;
        color[root] = 1;
        depth[root] = 0;
        while (top > 0) {
            size_t u = path[top - 1];
            if (next[u] == nadj[u]) {
                color[u] = 2;
                top--;
                continue;
            }
            size_t e = next[u]++, v = adj[u][e];
            if (color[v] == 0) {
                color[v] = 1;
                depth[v] = top;
                path[top++] = v;
            } else if (color[v] == 1) {
                found(ctx, path + depth[v], top - depth[v], e);
            }
        }
    }
    free(color);
    free(path);
    free(next);
    free(depth);
}

void sk_config__cycle_text(const char *const *names, const size_t *path, size_t npath, char *buf,
                           size_t size)
{
    size_t used = 0;
    for (size_t i = 0; i < npath; i++) {
        if (npath > 5 && i == 3) {
            used += (size_t)sk_snprintf(buf + used, size - SK_MIN(used, size), " -> ...");
            i = npath - 1;
        }
        used += (size_t)sk_snprintf(buf + used, size - SK_MIN(used, size), "%s%.64s",
                                    i ? " -> " : "", names[path[i]]);
    }
    sk_snprintf(buf + SK_MIN(used, size), size - SK_MIN(used, size), " -> %.64s", names[path[0]]);
}

/* -------------------------------------------------------------------------------------------- */
/* after: between jobs */

typedef struct ix_pair {
    size_t a, b;
} ix_pair_t;

static int ix_pair_cmp(const void *x, const void *y)
{
    const ix_pair_t *p = x, *q = y;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    return p->b < q->b ? -1 : p->b > q->b;
}

void sk_config__job_after(jctx_t *j, sk_job_cfg_t *J)
{
    static const char *const after_keys[] = {"jobs", "when"};
    const sk_ynode_t *v = j->e[K_AFTER].val, *list = v;
    const char *base = "";
    char buf[64];
    if (v->kind == SK_YNODE_MAP) {
        list = NULL;
        base = ".jobs";
        for (size_t i = 0; i < v->npairs; i++) {
            const sk_ynode_t *k = v->pairs[i].key, *val = v->pairs[i].val;
            char path[300];
            int e;
            if (strcmp(k->text, "jobs") == 0) {
                list = sk_config__is_null(val) ? NULL : val;
            } else if (strcmp(k->text, "when") == 0) {
                if (!sk_config__is_null(val) && sk_config__job_when(j, K_AFTER, val, ".when", &e))
                    J->after_when = (sk_when_t)e;
            } else {
                sk_snprintf(path, sizeof(path), "%s.after.%s", j->prefix, k->text);
                sk_config__unknown_key(j->L, k, path, after_keys, SK_ARRAY_LEN(after_keys), NULL);
            }
        }
        if (!list) {
            sk_config__job_err(
                j, K_AFTER, v, 0, NULL,
                "after needs jobs: the jobs whose runs start this one, like {jobs: [extract], "
                "when: failure}");
            return;
        }
    }
    if (list->kind == SK_YNODE_MAP) {
        sk_config__job_err(j, K_AFTER, list, 0, base,
                           "expected a job name or a list of them, got a mapping");
        return;
    }
    bool seq = list->kind == SK_YNODE_SEQ;
    size_t n = seq ? list->nitems : 1;
    if (n == 0) {
        sk_config__job_err(j, K_AFTER, list, 0, base,
                           "an empty list: give at least one job, or remove after:");
        return;
    }
    bool ok = true;
    char **names = sk_config__alloc(j->L->pool, (n + 1) * sizeof(*names));
    ref_at_t *at = sk_xcalloc(n, sizeof(*at));
    ix_pair_t *seen = sk_xmalloc(n * sizeof(*seen)); /* (job, place) of each good entry */
    size_t nseen = 0;
    for (size_t i = 0; i < n; i++) {
        const sk_ynode_t *it = seq ? list->items[i] : list;
        if (seq)
            sk_snprintf(at[i].sub, sizeof(at[i].sub), "%s[%zu]", base, i);
        else
            sk_strlcpy(at[i].sub, base, sizeof(at[i].sub));
        at[i].node = it;
        if (it->kind != SK_YNODE_SCALAR || sk_config__is_null(it) || !it->text[0]) {
            sk_config__job_err(j, K_AFTER, it, 0, at[i].sub, "expected a job name, got %s",
                               it->kind == SK_YNODE_SCALAR && !sk_config__is_null(it)
                                   ? "an empty string"
                                   : sk_config__got(it, buf, sizeof(buf)));
            ok = false;
            continue;
        }
        if (strcmp(it->text, j->name) == 0) {
            sk_config__job_err(j, K_AFTER, it, 0, at[i].sub, "job \"%s\" cannot run after itself",
                               it->text);
            ok = false;
            continue;
        }
        long t = sk_config__names_find(j->jobs, it->text);
        if (t < 0) {
            const char *hint = sk_config__closest(it->text, j->jobs->list, j->jobs->n);
            if (hint)
                sk_config__job_err(j, K_AFTER, it, 0, at[i].sub,
                                   "unknown job \"%s\" (did you mean \"%s\"?)", it->text, hint);
            else
                sk_config__job_err(j, K_AFTER, it, 0, at[i].sub, "unknown job \"%s\"", it->text);
            ok = false;
            continue;
        }
        names[i] = sk_config__strdup(j->L->pool, it->text);
        seen[nseen++] = (ix_pair_t){(size_t)t, i};
    }
    /* Each job once: sorted by job then place, the later of two equal ones is reported. */
    qsort(seen, nseen, sizeof(*seen), ix_pair_cmp);
    for (size_t k = 1; k < nseen; k++) {
        if (seen[k].a != seen[k - 1].a)
            continue;
        const ref_at_t *r = &at[seen[k].b];
        sk_config__job_err(j, K_AFTER, r->node, 0, r->sub, "job \"%s\" is listed twice",
                           r->node->text);
        ok = false;
    }
    free(seen);
    if (!ok) {
        free(at);
        return;
    }
    J->after = names;
    J->nafter = n;
    j->after_at = at;
}

typedef struct job_cycles {
    sk_config_ctx_t *L;
    const char *const *names; /* the built jobs' */
    ref_at_t *const *at;      /* per built job: where each after: entry is written */
    size_t *const *orig;      /* per built job: edge -> index in its after: */
} job_cycles_t;

static void job_cycle_found(void *ctx, const size_t *path, size_t npath, size_t edge)
{
    job_cycles_t *c = ctx;
    size_t from = path[npath - 1];
    const ref_at_t *r = &c->at[from][c->orig[from][edge]];
    char text[400], where[400];
    sk_config__cycle_text(c->names, path, npath, text, sizeof(text));
    sk_snprintf(where, sizeof(where), "jobs.%s.after%s", c->names[from], r->sub);
    sk_config__err(c->L, r->node, 0, where, "jobs form a cycle through after: %s", text);
}

void sk_config__after_cycles(sk_config_ctx_t *L, const sk_config_t *c, ref_at_t *const *at)
{
    size_t n = c->njobs;
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        any = c->jobs[i].nafter > 0;
    if (!any)
        return;
    const char **list = sk_xmalloc(n * sizeof(*list));
    for (size_t i = 0; i < n; i++)
        list[i] = c->jobs[i].name;
    names_t ix;
    sk_config__names_init(&ix, list, n);
    size_t **adj = sk_xcalloc(n, sizeof(*adj)), **orig = sk_xcalloc(n, sizeof(*orig));
    size_t *nadj = sk_xcalloc(n, sizeof(*nadj));
    for (size_t i = 0; i < n; i++) {
        const sk_job_cfg_t *J = &c->jobs[i];
        adj[i] = sk_xmalloc((J->nafter ? J->nafter : 1) * sizeof(**adj));
        orig[i] = sk_xmalloc((J->nafter ? J->nafter : 1) * sizeof(**orig));
        for (size_t k = 0; k < J->nafter; k++) {
            long t = sk_config__names_find(&ix, J->after[k]);
            if (t < 0)
                continue; /* a job with errors: reported already */
            adj[i][nadj[i]] = (size_t)t;
            orig[i][nadj[i]++] = k;
        }
    }
    job_cycles_t cyc = {.L = L, .names = list, .at = at, .orig = orig};
    sk_config__find_cycles(n, adj, nadj, job_cycle_found, &cyc);
    for (size_t i = 0; i < n; i++) {
        free(adj[i]);
        free(orig[i]);
    }
    free(adj);
    free(orig);
    free(nadj);
    sk_config__names_release(&ix);
    free(list);
}
