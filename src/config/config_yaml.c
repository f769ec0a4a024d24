/*
 * YAML to a node tree: libyaml's event parser drives an explicit stack that
 * builds scalars, sequences and mappings, each node remembering its line and
 * column for error messages. It enforces the caps (nesting depth, node count
 * with aliases expanded, so "billion laughs" files fail fast), rejects
 * duplicate keys and turns libyaml's syntax errors into located errors.
 * With hooks it hands the loader each top-level pair as it ends, and the
 * pairs of jobs: one by one, freeing a job's nodes once the loader has
 * built the job. Exports sk_config__yaml_parse and a few node helpers for
 * the loader.
 */
#include "config_int.h"

#include <yaml.h>

typedef struct frame {
    sk_ynode_t *node;   /* the collection being built */
    sk_ynode_t **items; /* sequence items; or key, value, key, value... */
    size_t n, cap;
    char *anchor; /* registered when the node ends, so it cannot contain itself */
    char path[256];
    bool stream;         /* the jobs: mapping whose pairs go to hooks->job */
    sk_pool_mark_t mark; /* stream: the pool before the pair being read */
    size_t mark_anchors; /* stream: anchors before it */
} frame_t;

typedef struct anchor {
    char *name;
    sk_ynode_t *node;
} anchor_t;

typedef struct builder {
    const char *file;
    const char *text;
    size_t len;
    sk_pool_t *pool;
    sk_errs_t *errs;
    frame_t stack[SK_CONFIG_MAX_DEPTH];
    int depth;
    anchor_t *anchors;
    size_t nanchors, capanchors;
    size_t total; /* nodes so far, aliases expanded */
    sk_ynode_t *root;
    int ndocs;
    const sk_yaml_hooks_t *hooks; /* NULL: none */
    bool jobs_seen;               /* the top-level jobs: key has come */
    bool stream_next;             /* the mapping being pushed is that key's stream frame */
} builder_t;

bool sk_config__is_null(const sk_ynode_t *n)
{
    if (!n)
        return true;
    if (n->kind != SK_YNODE_SCALAR || n->style != SK_YSTYLE_PLAIN)
        return false;
    return n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
           strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0;
}

int sk_config__inner_col(const sk_ynode_t *n, size_t off)
{
    if (n->kind != SK_YNODE_SCALAR || n->line != n->end_line || n->style == SK_YSTYLE_BLOCK)
        return n->col;
    size_t chars = sk_config__utf8_len(n->text, n->len);
    int quotes = n->style == SK_YSTYLE_PLAIN ? 0 : 2;
    /* The value is written verbatim only if its width matches the source span. */
    if ((size_t)(n->end_col - n->col) != chars + (size_t)quotes)
        return n->col;
    if (off > n->len)
        off = n->len;
    return n->col + quotes / 2 + (int)sk_config__utf8_len(n->text, off);
}

/* The key path of the node about to be added to the innermost frame. */
static void next_path(const builder_t *b, char *buf, size_t size)
{
    if (b->depth == 0) {
        buf[0] = '\0';
        return;
    }
    const frame_t *f = &b->stack[b->depth - 1];
    if (f->node->kind == SK_YNODE_SEQ) {
        sk_snprintf(buf, size, "%s[%zu]", f->path, f->n);
        return;
    }
    /* A key's path, or a value's: both name the key. */
    const sk_ynode_t *key = f->n % 2 ? f->items[f->n - 1] : NULL;
    if (!key) {
        sk_strlcpy(buf, f->path, size);
        return;
    }
    const char *k = key->kind == SK_YNODE_SCALAR ? key->text : "?";
    if (f->path[0])
        sk_snprintf(buf, size, "%s.%s", f->path, k);
    else
        sk_strlcpy(buf, k, size);
}

static void err_at(builder_t *b, int line, int col, const char *path, const char *fmt, ...)
    SK_PRINTF(5, 6);
static void err_at(builder_t *b, int line, int col, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sk_errs_add(b->errs, b->file, line, col, path, SK_ECONFIG, "%s", msg);
}

static sk_ynode_t *new_node(builder_t *b, sk_ynode_kind_t kind, const yaml_event_t *ev)
{
    sk_ynode_t *n = sk_config__alloc(b->pool, sizeof(*n));
    n->kind = kind;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
    n->end_line = (int)ev->end_mark.line + 1;
    n->end_col = (int)ev->end_mark.column + 1;
    n->weight = 1;
    return n;
}

static void add_anchor(builder_t *b, const yaml_char_t *name, sk_ynode_t *node)
{
    if (!name)
        return;
    if (b->nanchors == b->capanchors) {
        b->capanchors = b->capanchors ? b->capanchors * 2 : 8;
        b->anchors = sk_xrealloc(b->anchors, b->capanchors * sizeof(*b->anchors));
    }
    b->anchors[b->nanchors].name = sk_config__strdup(b->pool, (const char *)name);
    b->anchors[b->nanchors].node = node;
    b->nanchors++;
}

/* Counts nodes against the cap. Returns false (and reports) when over. */
static bool count(builder_t *b, size_t weight, const yaml_event_t *ev)
{
    b->total += weight;
    if (b->total <= SK_CONFIG_MAX_NODES)
        return true;
    char path[256];
    next_path(b, path, sizeof(path));
    err_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, path,
           "the file has more than %d nodes (counting what aliases repeat)", SK_CONFIG_MAX_NODES);
    return false;
}

/* The pair just completed in stream frame f goes to the loader; when it
 * is taken and defined no anchor (an alias elsewhere may name one), its
 * nodes go back to the pool. */
static void hand_over(builder_t *b, frame_t *f)
{
    const sk_ynode_t *k = f->items[f->n - 2], *v = f->items[f->n - 1];
    if (k->kind != SK_YNODE_SCALAR)
        return; /* finish_map reports it */
    sk_yaml_take_t t = b->hooks->job(b->hooks->ctx, k, v);
    if (t == SK_YAML_LEAVE)
        return;
    f->n -= 2;
    if (t == SK_YAML_TAKEN && b->nanchors == f->mark_anchors)
        sk_config__pool_release(b->pool, f->mark);
}

/* Whether the pair whose value is about to start at depth 1 is the first
 * top-level jobs: key. */
static bool is_jobs_value(builder_t *b)
{
    if (b->depth != 1 || b->jobs_seen)
        return false;
    const frame_t *f = &b->stack[0];
    if (f->node->kind != SK_YNODE_MAP || f->n % 2 == 0)
        return false;
    const sk_ynode_t *k = f->items[f->n - 1];
    return k->kind == SK_YNODE_SCALAR && strcmp(k->text, "jobs") == 0;
}

/* Adds a finished node to the innermost collection, or makes it the root. */
static void add_child(builder_t *b, sk_ynode_t *n)
{
    if (b->depth == 0) {
        b->root = n;
        return;
    }
    frame_t *f = &b->stack[b->depth - 1];
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->items = sk_xrealloc(f->items, f->cap * sizeof(*f->items));
    }
    f->items[f->n++] = n;
    if (f->n % 2 || !b->hooks || f->node->kind != SK_YNODE_MAP)
        return;
    if (f->stream)
        hand_over(b, f);
    else if (b->depth == 1 && f->items[f->n - 2]->kind == SK_YNODE_SCALAR)
        b->hooks->top(b->hooks->ctx, f->items[f->n - 2], n);
}

typedef struct {
    const char *text;
    size_t idx;
} keyref_t;

static int keyref_cmp(const void *pa, const void *pb)
{
    const keyref_t *a = pa, *b = pb;
    int c = strcmp(a->text, b->text);
    if (c)
        return c;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Pairs up a mapping's items, drops non-scalar and duplicate keys (reporting them). */
static void finish_map(builder_t *b, frame_t *f)
{
    size_t npairs = f->n / 2;
    sk_ypair_t *pairs = sk_config__alloc(b->pool, (npairs ? npairs : 1) * sizeof(*pairs));
    bool *drop = sk_xcalloc(npairs ? npairs : 1, sizeof(*drop));
    keyref_t *refs = sk_xcalloc(npairs ? npairs : 1, sizeof(*refs));
    size_t nrefs = 0;
    char path[300];

    for (size_t i = 0; i < npairs; i++) {
        sk_ynode_t *k = f->items[2 * i];
        pairs[i].key = k;
        pairs[i].val = f->items[2 * i + 1];
        if (k->kind != SK_YNODE_SCALAR) {
            drop[i] = true;
            err_at(b, k->line, k->col, f->path, "a key must be a plain string, not a %s",
                   k->kind == SK_YNODE_SEQ ? "list" : "mapping");
            continue;
        }
        refs[nrefs].text = k->text;
        refs[nrefs].idx = i;
        nrefs++;
    }
    qsort(refs, nrefs, sizeof(*refs), keyref_cmp);
    for (size_t i = 1; i < nrefs; i++) {
        if (strcmp(refs[i].text, refs[i - 1].text) != 0)
            continue;
        size_t first = i - 1;
        while (first > 0 && strcmp(refs[first - 1].text, refs[i].text) == 0)
            first--;
        const sk_ynode_t *k = pairs[refs[i].idx].key;
        const sk_ynode_t *k0 = pairs[refs[first].idx].key;
        drop[refs[i].idx] = true;
        if (f->path[0])
            sk_snprintf(path, sizeof(path), "%s.%s", f->path, k->text);
        else
            sk_strlcpy(path, k->text, sizeof(path));
        err_at(b, k->line, k->col, path, "duplicate key \"%s\" (first given at line %d)", k->text,
               k0->line);
    }

    size_t kept = 0;
    for (size_t i = 0; i < npairs; i++) {
        if (!drop[i])
            pairs[kept++] = pairs[i];
    }
    f->node->pairs = pairs;
    f->node->npairs = kept;
    free(refs);
    free(drop);
}

static void push(builder_t *b, sk_ynode_t *n, const yaml_char_t *anchor)
{
    frame_t *f = &b->stack[b->depth];
    char path[256];
    next_path(b, path, sizeof(path));
    memset(f, 0, sizeof(*f));
    f->node = n;
    f->anchor = anchor ? sk_config__strdup(b->pool, (const char *)anchor) : NULL;
    sk_strlcpy(f->path, path, sizeof(f->path));
    b->depth++;
}

static void pop(builder_t *b, const yaml_event_t *ev)
{
    frame_t *f = &b->stack[b->depth - 1];
    sk_ynode_t *n = f->node;
    n->end_line = (int)ev->end_mark.line + 1;
    n->end_col = (int)ev->end_mark.column + 1;
    for (size_t i = 0; i < f->n; i++)
        n->weight += f->items[i]->weight;
    if (n->kind == SK_YNODE_SEQ) {
        n->items = sk_config__alloc(b->pool, (f->n ? f->n : 1) * sizeof(*n->items));
        if (f->n)
            memcpy(n->items, f->items, f->n * sizeof(*n->items));
        n->nitems = f->n;
    } else {
        finish_map(b, f);
    }
    free(f->items);
    f->items = NULL;
    b->depth--;
    if (f->anchor)
        add_anchor(b, (const yaml_char_t *)f->anchor, n);
    add_child(b, n);
}

/* The byte offset of a mark (line and column count characters), or len past the end. */
static size_t mark_offset(const builder_t *b, yaml_mark_t m)
{
    const char *end = b->text + b->len;
    size_t i = 0;
    for (size_t line = 0; line < m.line && i < b->len;) {
        size_t br = sk_config__line_break(b->text + i, end);
        i += br ? br : 1;
        line += br > 0;
    }
    for (size_t col = 0; col < m.column && i < b->len; col++) {
        i++;
        while (i < b->len && ((unsigned char)b->text[i] & 0xC0) == 0x80)
            i++;
    }
    return i;
}

/* Reports libyaml's error at its mark. */
static void syntax_error(builder_t *b, const yaml_parser_t *p)
{
    int line, col;
    if (p->error == YAML_MEMORY_ERROR)
        sk_panic("out of memory parsing YAML");
    if (p->error == YAML_READER_ERROR) {
        /* The reader gives a byte offset: turn it into a line and column. */
        size_t off = SK_MIN(p->problem_offset, b->len);
        const char *ls = b->text, *end = b->text + off;
        line = 1;
        for (const char *q = b->text; q < end;) {
            size_t br = sk_config__line_break(q, end);
            q += br ? br : 1;
            if (br) {
                line++;
                ls = q;
            }
        }
        col = (int)sk_config__utf8_len(ls, (size_t)(b->text + off - ls)) + 1;
        if (p->problem_value >= 0)
            err_at(b, line, col, "", "YAML error: %s (byte 0x%02X)",
                   p->problem ? p->problem : "cannot read the file", (unsigned)p->problem_value);
        else
            err_at(b, line, col, "", "YAML error: %s",
                   p->problem ? p->problem : "cannot read the file");
        return;
    }
    line = (int)p->problem_mark.line + 1;
    col = (int)p->problem_mark.column + 1;
    if (p->context && strcmp(p->context, "while scanning an alias") == 0) {
        /* Nearly always an unquoted cron expression starting with a star. */
        err_at(b, (int)p->context_mark.line + 1, (int)p->context_mark.column + 1, "",
               "YAML syntax error: an unquoted * starts an alias; quote a value that starts "
               "with *, e.g. \"*/5 * * * *\"");
        return;
    }
    size_t at = mark_offset(b, p->problem_mark);
    if (at < b->len && b->text[at] == '\t') {
        err_at(b, line, col, "",
               "YAML syntax error: a tab character here; YAML indents with "
               "spaces only");
        return;
    }
    if (p->context && at >= b->len) {
        /* "unexpected end of stream": the place where the open thing began helps more. */
        line = (int)p->context_mark.line + 1;
        col = (int)p->context_mark.column + 1;
        err_at(b, line, col, "", "YAML syntax error: %s (%s that starts here)",
               p->problem ? p->problem : "malformed YAML", p->context);
        return;
    }
    if (p->context)
        err_at(b, line, col, "", "YAML syntax error: %s (%s at line %d, column %d)",
               p->problem ? p->problem : "malformed YAML", p->context,
               (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    else
        err_at(b, line, col, "", "YAML syntax error: %s",
               p->problem ? p->problem : "malformed YAML");
}

static sk_ystyle_t style_of(yaml_scalar_style_t s)
{
    switch (s) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
        return SK_YSTYLE_SINGLE;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        return SK_YSTYLE_DOUBLE;
    case YAML_LITERAL_SCALAR_STYLE:
    case YAML_FOLDED_SCALAR_STYLE:
        return SK_YSTYLE_BLOCK;
    default:
        return SK_YSTYLE_PLAIN;
    }
}

/* Before a node starts: a pair of a stream frame starts with its key, the
 * point its nodes go back to; the first top-level jobs: value may become
 * a stream frame (stream_next). */
static void before_node(builder_t *b, const yaml_event_t *ev)
{
    if (!b->hooks || b->depth == 0)
        return;
    frame_t *f = &b->stack[b->depth - 1];
    if (f->stream && f->n % 2 == 0) {
        f->mark = sk_config__pool_mark(b->pool);
        f->mark_anchors = b->nanchors;
    }
    if (is_jobs_value(b)) {
        b->jobs_seen = true;
        b->stream_next = ev->type == YAML_MAPPING_START_EVENT && !ev->data.mapping_start.anchor &&
                         b->hooks->stream(b->hooks->ctx, mark_offset(b, ev->start_mark));
    }
}

/* Handles one event. Returns 1 to go on, 0 at the end, SK_ECONFIG to stop. */
static int on_event(builder_t *b, const yaml_event_t *ev)
{
    char path[256];
    if (ev->type == YAML_SCALAR_EVENT || ev->type == YAML_SEQUENCE_START_EVENT ||
        ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_ALIAS_EVENT)
        before_node(b, ev);
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->ndocs > 1) {
            err_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "",
                   "only one YAML document is allowed per file (this is the second)");
            return SK_ECONFIG;
        }
        return 1;
    case YAML_STREAM_END_EVENT:
        return 0;
    case YAML_SCALAR_EVENT: {
        if (!count(b, 1, ev))
            return SK_ECONFIG;
        sk_ynode_t *n = new_node(b, SK_YNODE_SCALAR, ev);
        const char *v = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        n->style = style_of(ev->data.scalar.style);
        if (memchr(v, '\0', len)) {
            next_path(b, path, sizeof(path));
            err_at(b, n->line, n->col, path, "a string must not contain a NUL character");
            len = strlen(v);
        }
        n->text = sk_config__strndup(b->pool, v, len);
        n->len = len;
        add_anchor(b, ev->data.scalar.anchor, n);
        add_child(b, n);
        return 1;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        if (b->depth == SK_CONFIG_MAX_DEPTH) {
            /* No key path: at this depth it would be mostly "[0][0]...". */
            err_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "",
                   "lists and mappings are nested more than %d deep", SK_CONFIG_MAX_DEPTH);
            return SK_ECONFIG;
        }
        if (!count(b, 1, ev))
            return SK_ECONFIG;
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        sk_ynode_t *n = new_node(b, seq ? SK_YNODE_SEQ : SK_YNODE_MAP, ev);
        push(b, n, seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor);
        b->stack[b->depth - 1].stream = b->stream_next;
        b->stream_next = false;
        return 1;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        pop(b, ev);
        return 1;
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        sk_ynode_t *target = NULL;
        for (size_t i = b->nanchors; i > 0 && !target; i--) {
            if (strcmp(b->anchors[i - 1].name, name) == 0)
                target = b->anchors[i - 1].node;
        }
        if (!target) {
            /* Undefined, or an alias inside the node it names (a cycle). What
             * would follow from a hole in the tree is noise: stop here. */
            next_path(b, path, sizeof(path));
            err_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, path,
                   "unknown alias *%s (an alias must come after its &anchor, outside it)", name);
            return SK_ECONFIG;
        }
        if (!count(b, target->weight, ev))
            return SK_ECONFIG;
        add_child(b, target);
        return 1;
    }
    default:
        return 1;
    }
}

int sk_config__yaml_parse(const char *file, const char *text, size_t len, sk_pool_t *pool,
                          const sk_yaml_hooks_t *hooks, sk_ynode_t **ret_root, sk_errs_t *errs)
{
    yaml_parser_t parser;
    builder_t *b = sk_xcalloc(1, sizeof(*b));
    int r = 0;

    b->file = file;
    b->text = text;
    b->len = len;
    b->pool = pool;
    b->errs = errs;
    b->hooks = hooks;
    if (!yaml_parser_initialize(&parser))
        sk_panic("out of memory initialising the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(b, &parser);
            r = SK_ECONFIG;
            break;
        }
        int s = on_event(b, &ev);
        yaml_event_delete(&ev);
        if (s <= 0) {
            r = s;
            break;
        }
    }
    yaml_parser_delete(&parser);
    for (int i = 0; i < b->depth; i++)
        free(b->stack[i].items);
    free(b->anchors);
    if (r == 0)
        *ret_root = b->root;
    free(b);
    return r;
}
