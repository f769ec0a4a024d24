/*
 * A workflow's steps: each step is checked with the job's code (its keys,
 * body, environment and limits), inheriting the workflow's values; then
 * needs: are resolved to the indexes of other steps, each once, when:
 * failure is refused without needs, and the steps are checked for cycles.
 * Exports sk_config__job_steps to config_job.c.
 */
#include "config_job.h"

/* What a step leaves for the workflow to check once every step is known. */
typedef struct step_aux {
    char prefix[300];        /* "jobs.NAME.steps.STEP" */
    const sk_ynode_t *needs; /* its needs: value, or NULL */
    const sk_ynode_t *when;  /* its when: value, or NULL */
    ref_at_t *at;            /* where each resolved need is written, parallel to needs (malloc) */
} step_aux_t;

/* One step: a body like a job's, inheriting the workflow's values (J, parent). */
static void build_step(jctx_t *wj, const sk_job_cfg_t *J, const sk_body_t *parent,
                       size_t *env_budget, const sk_ynode_t *key, const sk_ynode_t *map,
                       sk_step_cfg_t *S, step_aux_t *aux)
{
    sk_config_ctx_t *L = wj->L;
    char buf[64];
    sk_snprintf(aux->prefix, sizeof(aux->prefix), "%s.steps.%s", wj->prefix, key->text);
    S->name = sk_config__strdup(L->pool, key->text);
    S->line = key->line;
    S->col = key->col;
    S->body.config_dir = L->dir;
    S->when = SK_WHEN_SUCCESS;
    S->timeout_ms = J->timeout_ms;
    S->kill_grace_ms = J->kill_grace_ms;
    S->retries = J->retries;
    S->retry_delay_ms = J->retry_delay_ms;
    S->max_output = J->max_output;
    if (!sk_config__job_name_ok(key->text))
        sk_config__err(L, key, 0, aux->prefix,
                       "step name \"%s\" must be 1-%d letters, digits, '_', '.' or '-', not "
                       "starting with '.' or '-'",
                       key->text, MAX_JOB_NAME);
    static const sk_ynode_t empty = {.kind = SK_YNODE_MAP};
    if (sk_config__is_null(map)) {
        map = &empty; /* reported as "nothing to run" */
    } else if (map->kind != SK_YNODE_MAP) {
        sk_config__err(L, map, 0, aux->prefix,
                       "expected a mapping of step settings like {run: ..., needs: [...]}, got %s",
                       sk_config__got(map, buf, sizeof(buf)));
        return;
    }
    jctx_t s = {.L = L, .name = key->text, .prefix = aux->prefix, .noun = "step", .scope = F_STEP};
    sk_config__job_gather(&s, map, NULL);
    sk_config__job_body(&s, key, parent, false, &S->body);
    sk_config__job_step_env(&s, parent, J, wj->nfile, env_budget, &S->body);
    sk_config__job_limits(&s, &S->timeout_ms, &S->kill_grace_ms, &S->retries, &S->retry_delay_ms,
                          &S->max_output);
    if (s.e[K_ALERT].val)
        S->alert = sk_config__job_alert(&s);
    int e;
    if (s.e[K_WHEN].val && sk_config__job_when(&s, K_WHEN, s.e[K_WHEN].val, NULL, &e))
        S->when = (sk_when_t)e;
    aux->needs = s.e[K_NEEDS].val;
    aux->when = s.e[K_WHEN].val;
}

/* needs: one step name or a list of them, each another step of the workflow, once. */
static void resolve_needs(sk_config_ctx_t *L, sk_step_cfg_t *S, step_aux_t *aux, size_t i,
                          const names_t *ix, size_t *stamp)
{
    const sk_ynode_t *v = aux->needs;
    char buf[64], path[400];
    if (v->kind == SK_YNODE_MAP) {
        sk_snprintf(path, sizeof(path), "%s.needs", aux->prefix);
        sk_config__err(L, v, 0, path, "expected a step name or a list of them, got a mapping");
        return;
    }
    bool seq = v->kind == SK_YNODE_SEQ;
    size_t m = seq ? v->nitems : 1;
    S->needs = sk_config__alloc(L->pool, (m ? m : 1) * sizeof(*S->needs));
    aux->at = sk_xcalloc(m ? m : 1, sizeof(*aux->at));
    for (size_t k = 0; k < m; k++) {
        const sk_ynode_t *it = seq ? v->items[k] : v;
        char sub[40] = "";
        if (seq)
            sk_snprintf(sub, sizeof(sub), "[%zu]", k);
        sk_snprintf(path, sizeof(path), "%s.needs%s", aux->prefix, sub);
        if (it->kind != SK_YNODE_SCALAR || sk_config__is_null(it) || !it->text[0]) {
            sk_config__err(L, it, 0, path, "expected a step name, got %s",
                           it->kind == SK_YNODE_SCALAR && !sk_config__is_null(it)
                               ? "an empty string"
                               : sk_config__got(it, buf, sizeof(buf)));
            continue;
        }
        if (strcmp(it->text, S->name) == 0) {
            sk_config__err(L, it, 0, path, "step \"%s\" cannot need itself", it->text);
            continue;
        }
        long t = sk_config__names_find(ix, it->text);
        if (t < 0) {
            const char *hint = sk_config__closest(it->text, ix->list, ix->n);
            if (hint)
                sk_config__err(L, it, 0, path, "unknown step \"%s\" (did you mean \"%s\"?)",
                               it->text, hint);
            else
                sk_config__err(L, it, 0, path, "unknown step \"%s\"", it->text);
            continue;
        }
        if (stamp[t] == i) {
            sk_config__err(L, it, 0, path, "step \"%s\" is listed twice", it->text);
            continue;
        }
        stamp[t] = i;
        aux->at[S->nneeds].node = it;
        sk_strlcpy(aux->at[S->nneeds].sub, sub, sizeof(aux->at[S->nneeds].sub));
        S->needs[S->nneeds++] = (size_t)t;
    }
}

typedef struct step_cycles {
    sk_config_ctx_t *L;
    const char *const *names;
    const step_aux_t *aux;
} step_cycles_t;

static void step_cycle_found(void *ctx, const size_t *path, size_t npath, size_t edge)
{
    step_cycles_t *c = ctx;
    const step_aux_t *from = &c->aux[path[npath - 1]];
    char text[400], where[400];
    sk_config__cycle_text(c->names, path, npath, text, sizeof(text));
    sk_snprintf(where, sizeof(where), "%s.needs%s", from->prefix, from->at[edge].sub);
    sk_config__err(c->L, from->at[edge].node, 0, where, "steps form a cycle: %s", text);
}

void sk_config__job_steps(jctx_t *j, sk_job_cfg_t *J, const sk_body_t *parent)
{
    sk_config_ctx_t *L = j->L;
    const sk_ynode_t *v = j->e[K_STEPS].val;
    char buf[64];
    if (v->kind != SK_YNODE_MAP) {
        sk_config__job_err(
            j, K_STEPS, v, 0, NULL,
            "expected a mapping from step names to steps, like {extract: {python: x.py}, load: "
            "{python: y.py, needs: [extract]}}, got %s",
            sk_config__got(v, buf, sizeof(buf)));
        return;
    }
    if (v->npairs == 0) {
        sk_config__job_err(j, K_STEPS, v, 0, NULL, "an empty workflow: give at least one step");
        return;
    }
    if (v->npairs > MAX_STEPS) {
        sk_config__job_err(j, K_STEPS, v, 0, NULL,
                           "too many steps: %zu (a workflow has at most %d)", v->npairs, MAX_STEPS);
        return;
    }
    size_t n = v->npairs;
    sk_step_cfg_t *S = sk_config__alloc(L->pool, n * sizeof(*S));
    step_aux_t *aux = sk_xcalloc(n, sizeof(*aux));
    const char **list = sk_xmalloc(n * sizeof(*list));
    size_t *stamp = sk_xmalloc(n * sizeof(*stamp));
    size_t **adj = sk_xmalloc(n * sizeof(*adj));
    size_t *nadj = sk_xmalloc(n * sizeof(*nadj));
    size_t env_budget = MAX_STEP_ENV;
    for (size_t i = 0; i < n; i++) {
        build_step(j, J, parent, &env_budget, v->pairs[i].key, v->pairs[i].val, &S[i], &aux[i]);
        list[i] = S[i].name;
        stamp[i] = SIZE_MAX;
    }
    names_t ix;
    sk_config__names_init(&ix, list, n);
    for (size_t i = 0; i < n; i++) {
        if (aux[i].needs)
            resolve_needs(L, &S[i], &aux[i], i, &ix, stamp);
        bool no_needs =
            !aux[i].needs || (aux[i].needs->kind == SK_YNODE_SEQ && aux[i].needs->nitems == 0);
        if (S[i].when == SK_WHEN_FAILURE && no_needs) {
            char path[400];
            sk_snprintf(path, sizeof(path), "%s.when", aux[i].prefix);
            sk_config__err(L, aux[i].when, 0, path,
                           "a step with when: failure runs when a step it needs fails: list "
                           "those steps in needs");
        }
        adj[i] = S[i].needs;
        nadj[i] = S[i].nneeds;
    }
    step_cycles_t cyc = {.L = L, .names = list, .aux = aux};
    sk_config__find_cycles(n, adj, nadj, step_cycle_found, &cyc);
    J->steps = S;
    J->nsteps = n;
    sk_config__names_release(&ix);
    for (size_t i = 0; i < n; i++)
        free(aux[i].at);
    free(aux);
    free(list);
    free(stamp);
    free(adj);
    free(nadj);
}
