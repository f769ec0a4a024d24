/*
 * The step graph of a workflow: readiness and skip propagation by repeated
 * passes to a fixed point (a workflow has at most 1,000 steps and is acyclic,
 * checked by the configuration loader), and layering for `sked show`.
 */
#include "dag.h"

bool sk_dag_final(sk_dag_state_t s)
{
    return s != SK_DAG_PENDING && s != SK_DAG_ACTIVE;
}

static bool is_failure(sk_dag_state_t s)
{
    return s == SK_DAG_FAILED || s == SK_DAG_UPSTREAM_FAILED;
}

void sk_dag_eval(const sk_job_cfg_t *wf, sk_dag_state_t *states, size_t *ready, size_t *ret_nready,
                 sk_dag_skip_t *skips, size_t *ret_nskip)
{
    size_t nready = 0, nskip = 0;
    bool changed = true;
    /* Skips cascade: repeat until nothing more is decided. */
    while (changed) {
        changed = false;
        for (size_t i = 0; i < wf->nsteps; i++) {
            if (states[i] != SK_DAG_PENDING)
                continue;
            const sk_step_cfg_t *st = &wf->steps[i];
            bool all_final = true, all_ok = true, any_fail = false;
            size_t first_bad = SIZE_MAX;
            for (size_t k = 0; k < st->nneeds; k++) {
                sk_dag_state_t ns = states[st->needs[k]];
                if (!sk_dag_final(ns)) {
                    all_final = false;
                    continue;
                }
                if (ns != SK_DAG_SUCCEEDED) {
                    all_ok = false;
                    if (first_bad == SIZE_MAX || (is_failure(ns) && !is_failure(states[first_bad])))
                        first_bad = st->needs[k];
                }
                if (is_failure(ns))
                    any_fail = true;
            }
            sk_dag_state_t skip_as = SK_DAG_PENDING;
            char reason[160] = "";
            switch (st->when) {
            case SK_WHEN_SUCCESS:
                if (!all_ok && first_bad != SIZE_MAX) {
                    /* Decided as soon as one need is final and not successful. */
                    bool failed = is_failure(states[first_bad]);
                    skip_as = failed ? SK_DAG_UPSTREAM_FAILED : SK_DAG_SKIPPED;
                    sk_snprintf(reason, sizeof(reason), "upstream %s %s", wf->steps[first_bad].name,
                                states[first_bad] == SK_DAG_FAILED ? "failed"
                                : failed ? "did not run (failure upstream)"
                                         : "was skipped");
                } else if (all_final) {
                    ready[nready++] = i;
                    states[i] = SK_DAG_ACTIVE; /* provisional, reset below */
                }
                break;
            case SK_WHEN_FAILURE:
                if (any_fail) {
                    ready[nready++] = i;
                    states[i] = SK_DAG_ACTIVE;
                } else if (all_final) {
                    skip_as = SK_DAG_SKIPPED;
                    sk_snprintf(reason, sizeof(reason), "no upstream step failed");
                }
                break;
            case SK_WHEN_ALWAYS:
            default:
                if (all_final) {
                    ready[nready++] = i;
                    states[i] = SK_DAG_ACTIVE;
                }
                break;
            }
            if (skip_as != SK_DAG_PENDING) {
                states[i] = skip_as;
                skips[nskip].step = i;
                skips[nskip].state = skip_as;
                sk_strlcpy(skips[nskip].reason, reason, sizeof(skips[nskip].reason));
                nskip++;
                changed = true;
            }
        }
    }
    /* Ready steps stay pending until the caller starts them. */
    for (size_t i = 0; i < nready; i++)
        states[ready[i]] = SK_DAG_PENDING;
    /* File order. */
    for (size_t i = 1; i < nready; i++) {
        size_t x = ready[i], j = i;
        while (j > 0 && ready[j - 1] > x) {
            ready[j] = ready[j - 1];
            j--;
        }
        ready[j] = x;
    }
    *ret_nready = nready;
    *ret_nskip = nskip;
}

bool sk_dag_done(const sk_job_cfg_t *wf, const sk_dag_state_t *states)
{
    for (size_t i = 0; i < wf->nsteps; i++)
        if (!sk_dag_final(states[i]))
            return false;
    return true;
}

bool sk_dag_failed(const sk_job_cfg_t *wf, const sk_dag_state_t *states)
{
    for (size_t i = 0; i < wf->nsteps; i++)
        if (states[i] == SK_DAG_FAILED)
            return true;
    return false;
}

size_t sk_dag_layers(const sk_job_cfg_t *wf, size_t *layer)
{
    size_t n = 0;
    for (size_t i = 0; i < wf->nsteps; i++)
        layer[i] = 0;
    /* Longest path by relaxation: at most nsteps rounds in an acyclic graph. */
    for (size_t round = 0; round < wf->nsteps; round++) {
        bool changed = false;
        for (size_t i = 0; i < wf->nsteps; i++) {
            for (size_t k = 0; k < wf->steps[i].nneeds; k++) {
                size_t need = wf->steps[i].needs[k];
                if (layer[need] + 1 > layer[i]) {
                    layer[i] = layer[need] + 1;
                    changed = true;
                }
            }
        }
        if (!changed)
            break;
    }
    for (size_t i = 0; i < wf->nsteps; i++)
        n = SK_MAX(n, layer[i] + 1);
    return n;
}

/* value single-quoted for sh: ' becomes '\''. New memory. */
static char *sh_quote(const char *v)
{
    size_t len = 2;
    for (const char *p = v; *p; p++)
        len += *p == '\'' ? 4 : 1;
    char *out = sk_xmalloc(len + 1), *o = out;
    *o++ = '\'';
    for (const char *p = v; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

char *sk_dag_subst(const char *text, const sk_kv_t *params, size_t n, bool shell_quote)
{
    char *quoted = NULL;
    size_t cap = strlen(text) + 64, len = 0;
    char *out = sk_xmalloc(cap);
    const char *p = text;
    while (*p) {
        const char *open = strstr(p, "${{");
        const char *close = open ? strstr(open + 3, "}}") : NULL;
        if (!open || !close) {
            open = p + strlen(p);
            close = NULL;
        }
        size_t lit = (size_t)(open - p);
        const char *value = NULL;
        size_t vlen = 0;
        if (close) {
            /* ${{ params.NAME }} with optional spaces */
            const char *q = open + 3;
            while (*q == ' ')
                q++;
            const char *e = close;
            while (e > q && e[-1] == ' ')
                e--;
            if ((size_t)(e - q) > 7 && strncmp(q, "params.", 7) == 0) {
                q += 7;
                for (size_t i = 0; i < n; i++) {
                    if (strlen(params[i].key) == (size_t)(e - q) &&
                        strncmp(params[i].key, q, (size_t)(e - q)) == 0) {
                        value = params[i].value ? params[i].value : "";
                        break;
                    }
                }
                if (!value)
                    value = "";
            } else {
                /* Not ours: keep the text as written. */
                value = open;
                vlen = (size_t)(close + 2 - open);
            }
            if (!vlen) {
                if (shell_quote) {
                    free(quoted);
                    quoted = sh_quote(value);
                    value = quoted;
                }
                vlen = strlen(value);
            }
        }
        while (len + lit + vlen + 1 > cap) {
            cap *= 2;
            out = sk_xrealloc(out, cap);
        }
        memcpy(out + len, p, lit);
        len += lit;
        if (close) {
            memcpy(out + len, value, vlen);
            len += vlen;
            p = close + 2;
        } else {
            p = open;
        }
    }
    out[len] = '\0';
    free(quoted);
    return out;
}
