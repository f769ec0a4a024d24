/*
 * The daemon's log (src/common/log.c), with fd 2 redirected to a temporary
 * file: text lines are what they always were; JSON lines parse with jansson
 * (duplicate keys rejected) and have the right fields and types: bare
 * integers as numbers, quoted values unquoted, free words in "msg", repeated
 * keys renamed; odd bytes (control characters, DEL, broken UTF-8) escaped;
 * long texts are cut to lines of at most 4096 bytes (PIPE_BUF), JSON ones
 * still one valid object, as are field-heavy ones; threads logging at once
 * never interleave; the level filter; syslog switching and its errors, and
 * (where this process may create a mount namespace, as root in a container)
 * what reaches syslog: a child mounts a private tmpfs on /dev, listens on
 * its own /dev/log and checks the priority and the message of each format.
 */
#define _GNU_SOURCE /* unshare(2) */
#include "common/log.h"

#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* ---- capturing fd 2 ---- */

typedef struct capture {
    char path[64];
    int fd, saved;
} capture_t;

static void capture_begin(capture_t *c)
{
    sk_strlcpy(c->path, "/tmp/sked-log-XXXXXX", sizeof(c->path));
    c->fd = mkstemp(c->path);
    assert_true(c->fd >= 0);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    assert_true(dup2(c->fd, 2) == 2);
}

/* Restores fd 2 and returns what was written to it (new memory). */
static char *capture_end(capture_t *c)
{
    assert_true(dup2(c->saved, 2) == 2);
    close(c->saved);
    off_t size = lseek(c->fd, 0, SEEK_END);
    assert_true(size >= 0);
    char *buf = sk_xmalloc((size_t)size + 1);
    assert_int_equal(pread(c->fd, buf, (size_t)size, 0), size);
    buf[size] = '\0';
    close(c->fd);
    unlink(c->path);
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Logs one event in JSON mode and returns its parsed object, after checking
 * that it is exactly one line that starts with the timestamp. */
static json_t *json_event(sk_log_level_t level, const char *text)
{
    capture_t c;
    sk_log_set_json(true);
    capture_begin(&c);
    sk_log(level, "%s", text);
    char *out = capture_end(&c);
    sk_log_set_json(false);
    assert_int_equal(count_lines(out), 1);
    assert_true(strlen(out) <= 4096); /* PIPE_BUF */
    assert_true(strncmp(out, "{\"ts\":\"", 7) == 0);
    json_error_t err;
    json_t *obj = json_loads(out, JSON_REJECT_DUPLICATES, &err);
    if (!obj)
        print_error("not JSON (%s): %s\n", err.text, out);
    assert_non_null(obj);
    assert_true(json_is_object(obj));
    free(out);
    return obj;
}

static bool is_timestamp(const char *s)
{
    /* 2026-11-27T04:05:06.123Z */
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return false;
    return true;
}

static void want_str(const json_t *obj, const char *key, const char *want)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0) {
        char *dump = json_dumps(obj, JSON_ENSURE_ASCII);
        print_error("key %s: want string \"%s\" in %s\n", key, want, dump);
        free(dump);
        fail();
    }
}

static void want_int(const json_t *obj, const char *key, json_int_t want)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) != want) {
        char *dump = json_dumps(obj, JSON_ENSURE_ASCII);
        print_error("key %s: want number %" JSON_INTEGER_FORMAT " in %s\n", key, want, dump);
        free(dump);
        fail();
    }
}

/* ---- text mode ---- */

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void test_text_mode_unchanged(void **state)
{
    (void)state;
    capture_t c;
    capture_begin(&c);
    sk_log(SK_LOG_INFO, "event=started job=%s run=%d reason=\"%s\"", "backup", 12, "exit 3");
    sk_log(SK_LOG_WARN, "event=late job=a msg=\"two\nlines\r\"");
    sk_log(SK_LOG_ERROR, "event=store_error");
    sk_log(SK_LOG_DEBUG, "event=hidden"); /* below the default level */
    char *out = capture_end(&c);
    assert_int_equal(count_lines(out), 3);
    char *line2 = strchr(out, '\n') + 1;
    char *line3 = strchr(line2, '\n') + 1;
    char ts[32];
    sk_strlcpy(ts, out, 25);
    assert_true(is_timestamp(ts));
    assert_true(starts_with(out + 24, " info event=started job=backup run=12 reason=\"exit 3\"\n"));
    assert_true(starts_with(line2 + 24, " warn event=late job=a msg=\"two lines \"\n"));
    assert_true(starts_with(line3 + 24, " error event=store_error\n"));
    free(out);
}

static void test_level_filter(void **state)
{
    (void)state;
    capture_t c;
    capture_begin(&c);
    sk_log_set_level(SK_LOG_DEBUG);
    sk_log(SK_LOG_DEBUG, "event=shown");
    sk_log_set_level(SK_LOG_ERROR);
    sk_log(SK_LOG_WARN, "event=hidden");
    sk_log(SK_LOG_ERROR, "event=shown_too");
    sk_log_set_level(SK_LOG_INFO);
    char *out = capture_end(&c);
    assert_int_equal(count_lines(out), 2);
    assert_non_null(strstr(out, " debug event=shown\n"));
    assert_non_null(strstr(out, " error event=shown_too\n"));
    assert_null(strstr(out, "hidden"));
    free(out);
}

static void test_errno_preserved(void **state)
{
    (void)state;
    capture_t c;
    capture_begin(&c);
    errno = ENOENT;
    sk_log(SK_LOG_INFO, "event=x");
    assert_int_equal(errno, ENOENT);
    sk_log_set_json(true);
    errno = EACCES;
    sk_log(SK_LOG_INFO, "event=x");
    assert_int_equal(errno, EACCES);
    sk_log_set_json(false);
    free(capture_end(&c));
}

/* ---- JSON mode ---- */

static void test_json_fields(void **state)
{
    (void)state;
    json_t *o = json_event(SK_LOG_INFO, "event=started job=backup run=12 attempt=1 "
                                        "trigger=schedule reason=\"exit 3\"");
    assert_true(is_timestamp(json_string_value(json_object_get(o, "ts"))));
    want_str(o, "level", "info");
    want_str(o, "event", "started");
    want_str(o, "job", "backup");
    want_int(o, "run", 12);
    want_int(o, "attempt", 1);
    want_str(o, "trigger", "schedule");
    want_str(o, "reason", "exit 3");
    assert_int_equal(json_object_size(o), 8);
    assert_null(json_object_get(o, "msg"));
    json_decref(o);

    static const struct {
        sk_log_level_t level;
        const char *name;
    } levels[] = {{SK_LOG_WARN, "warn"}, {SK_LOG_ERROR, "error"}};
    for (size_t i = 0; i < SK_ARRAY_LEN(levels); i++) {
        o = json_event(levels[i].level, "event=x");
        want_str(o, "level", levels[i].name);
        json_decref(o);
    }
    /* an empty text: just the two fixed fields */
    o = json_event(SK_LOG_INFO, "");
    assert_int_equal(json_object_size(o), 2);
    json_decref(o);
}

/* Bare values: which become numbers. */
static void test_json_numbers(void **state)
{
    (void)state;
    json_t *o =
        json_event(SK_LOG_INFO, "a=0 b=-5 c=9223372036854775807 d=-9223372036854775808 "
                                "e=9223372036854775808 f=007 g=1.5 h=12abc i=\"42\" j= k=-0 l=- "
                                "m=1e3 n=+3 at=sked.yaml:12:15");
    want_int(o, "a", 0);
    want_int(o, "b", -5);
    want_int(o, "c", INT64_MAX);
    want_int(o, "d", INT64_MIN);
    want_str(o, "e", "9223372036854775808");
    want_str(o, "f", "007");
    want_str(o, "g", "1.5");
    want_str(o, "h", "12abc");
    want_str(o, "i", "42");
    want_str(o, "j", "");
    want_str(o, "k", "-0");
    want_str(o, "l", "-");
    want_str(o, "m", "1e3");
    want_str(o, "n", "+3");
    want_str(o, "at", "sked.yaml:12:15");
    json_decref(o);
}

static void test_json_quoted_values(void **state)
{
    (void)state;
    /* escaped quotes and backslashes, an unescaped quote inside, a value
     * that looks like key=value, an unterminated one last */
    json_t *o = json_event(SK_LOG_INFO, "a=\"say \\\"hi\\\"\" b=\"back\\\\slash\" "
                                        "c=\"it \"quoted\" here\" d=\"x=1 y=2\" "
                                        "e=\"C:\\dir\\file\" f=\"\" g=\"  spaced  \" "
                                        "h=\"unterminated and more");
    want_str(o, "a", "say \"hi\"");
    want_str(o, "b", "back\\slash");
    want_str(o, "c", "it \"quoted\" here");
    want_str(o, "d", "x=1 y=2");
    want_str(o, "e", "C:\\dir\\file");
    want_str(o, "f", "");
    want_str(o, "g", "  spaced  ");
    want_str(o, "h", "unterminated and more");
    assert_int_equal(json_object_size(o), 10);
    json_decref(o);

    /* a quote followed by a word that is not key= does not end the value */
    o = json_event(SK_LOG_INFO, "msg=\"the \"x\" y\" z=1");
    want_str(o, "msg", "the \"x\" y");
    want_int(o, "z", 1);
    json_decref(o);

    /* bare values keep their quotes and backslashes, escaped for JSON */
    o = json_event(SK_LOG_INFO, "a=b\"c path=C:\\x");
    want_str(o, "a", "b\"c");
    want_str(o, "path", "C:\\x");
    json_decref(o);
}

static void test_json_msg_and_duplicates(void **state)
{
    (void)state;
    json_t *o = json_event(SK_LOG_INFO, "hello  world event=x =odd 42 \"two words\"");
    want_str(o, "event", "x");
    want_str(o, "msg", "hello world =odd 42 \"two words\"");
    json_decref(o);

    o = json_event(SK_LOG_INFO, "event=x msg=\"explicit\" and free text");
    want_str(o, "msg", "explicit");
    want_str(o, "msg_2", "and free text");
    json_decref(o);

    /* no quote followed by key= or the end: the first one before white
     * space ends the value */
    o = json_event(SK_LOG_INFO, "a=\"x \"y\" z\" w v");
    want_str(o, "a", "x \"y");
    want_str(o, "msg", "z\" w v");
    json_decref(o);

    o = json_event(SK_LOG_INFO, "job=a job=b job=c ts=now level=high job_2=lit");
    want_str(o, "job", "a");
    want_str(o, "job_2", "b");
    want_str(o, "job_3", "c");
    want_str(o, "ts_2", "now");
    want_str(o, "level", "info");
    want_str(o, "level_2", "high");
    want_str(o, "job_2_2", "lit");
    assert_true(is_timestamp(json_string_value(json_object_get(o, "ts"))));
    json_decref(o);

    /* keys: letters, digits, _ . - ; not starting with a digit */
    o = json_event(SK_LOG_INFO, "a.b-c_d=1 _x=2 9z=3");
    want_int(o, "a.b-c_d", 1);
    want_int(o, "_x", 2);
    want_str(o, "msg", "9z=3");
    json_decref(o);
}

static void test_json_odd_bytes(void **state)
{
    (void)state;
    json_t *o = json_event(SK_LOG_WARN, "a=\"tab\there\" b=\"line\nbreak\r\" c=\"\x01\x1f\x7f\" "
                                        "d=caf\xc3\xa9 e=\xe2\x82\xac\xf0\x9f\x98\x80 "
                                        "f=bad\xff g=\"trunc\xe2\x82\" h=\xc0\xaf "
                                        "i=\xed\xa0\x80");
    want_str(o, "a", "tab\there");
    want_str(o, "b", "line\nbreak\r");
    want_str(o, "c", "\x01\x1f\x7f");
    want_str(o, "d", "caf\xc3\xa9");
    want_str(o, "e", "\xe2\x82\xac\xf0\x9f\x98\x80");
    want_str(o, "f", "bad\xef\xbf\xbd");
    want_str(o, "g", "trunc\xef\xbf\xbd\xef\xbf\xbd");
    want_str(o, "h", "\xef\xbf\xbd\xef\xbf\xbd");
    want_str(o, "i", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(o);

    /* the raw line: control characters escaped, nothing else broken */
    capture_t c;
    sk_log_set_json(true);
    capture_begin(&c);
    sk_log(SK_LOG_INFO, "k=\"\x01\x7f\\\"\n\"");
    char *out = capture_end(&c);
    sk_log_set_json(false);
    assert_non_null(strstr(out, ",\"k\":\"\\u0001\\u007f\\\"\\n\"}\n"));
    free(out);

    /* a NUL from %c ends nothing: it is escaped too */
    sk_log_set_json(true);
    capture_begin(&c);
    sk_log(SK_LOG_INFO, "k=\"a%cb\"", 0);
    out = capture_end(&c);
    sk_log_set_json(false);
    json_error_t err;
    json_t *obj = json_loadb(out, strlen(out), JSON_ALLOW_NUL, &err);
    assert_non_null(obj);
    size_t len = json_string_length(json_object_get(obj, "k"));
    assert_int_equal(len, 3);
    json_decref(obj);
    free(out);
}

static void test_json_long_text(void **state)
{
    (void)state;
    /* longer than a line may be: cut, still one valid object (json_event
     * checks the 4096-byte bound) */
    char *big = sk_xmalloc(10000);
    memcpy(big, "event=big msg=\"", 15);
    memset(big + 15, 'x', 9000);
    memcpy(big + 9015, "\"", 2);
    json_t *o = json_event(SK_LOG_INFO, big);
    want_str(o, "event", "big");
    size_t len = json_string_length(json_object_get(o, "msg"));
    assert_true(len > 3800 && len < 4096);
    json_decref(o);

    /* control characters grow six-fold: the text is cut to fit */
    memcpy(big, "event=ctl v=\"", 13);
    memset(big + 13, '\x02', 4000);
    memcpy(big + 4013, "\"", 2);
    o = json_event(SK_LOG_INFO, big);
    const char *v = json_string_value(json_object_get(o, "v"));
    assert_non_null(v);
    len = strlen(v);
    assert_true(len > 500 && len < 4000 / 6);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(v[i], '\x02');
    json_decref(o);

    /* two-byte characters: cut between two, or inside one (then its lead
     * byte becomes U+FFFD) */
    size_t n = 2;
    memcpy(big, "v=", 2);
    while (n < 4200) {
        memcpy(big + n, "\xc3\xa9", 2);
        n += 2;
    }
    big[n] = '\0';
    o = json_event(SK_LOG_INFO, big);
    v = json_string_value(json_object_get(o, "v"));
    assert_non_null(v);
    len = strlen(v);
    assert_true(len > 3800);
    size_t i = 0;
    while (i + 2 <= len && memcmp(v + i, "\xc3\xa9", 2) == 0)
        i += 2;
    assert_true(i == len || strcmp(v + i, "\xef\xbf\xbd") == 0);
    json_decref(o);
    free(big);
}

static void test_text_long_line_cut(void **state)
{
    (void)state;
    char *big = sk_xmalloc(10000);
    memset(big, 'y', 9999);
    big[9999] = '\0';
    capture_t c;
    capture_begin(&c);
    sk_log(SK_LOG_INFO, "v=%s", big);
    char *out = capture_end(&c);
    assert_int_equal(strlen(out), 4096);
    assert_int_equal(count_lines(out), 1);
    assert_int_equal(out[4095], '\n');
    assert_int_equal(out[4094], 'y');
    free(out);
    free(big);
}

static void test_json_many_fields(void **state)
{
    (void)state;
    char text[2048];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)sk_snprintf(text + n, sizeof(text) - n, "k%d=%d ", i, i);
    json_t *o = json_event(SK_LOG_INFO, text);
    /* ts, level, 64 fields, then the rest as words */
    assert_int_equal(json_object_size(o), 2 + 64 + 1);
    want_int(o, "k0", 0);
    want_int(o, "k63", 63);
    assert_null(json_object_get(o, "k64"));
    const char *msg = json_string_value(json_object_get(o, "msg"));
    assert_non_null(msg);
    assert_true(strncmp(msg, "k64=64 k65=65", 13) == 0);
    json_decref(o);
}

/* ---- threads ---- */

enum { THREADS = 4, LINES = 500 };

static void *logger(void *arg)
{
    int id = (int)(intptr_t)arg;
    /* lines of about 500 to 3,900 bytes: near PIPE_BUF */
    for (int i = 0; i < LINES; i++)
        sk_log(SK_LOG_INFO, "event=spam thread=%d i=%d pad=\"%0*d\"", id, i, 500 + id * 1100, 0);
    return NULL;
}

typedef struct drain {
    int fd;
    char *buf;
    size_t len, cap;
} drain_t;

static void *drainer(void *arg)
{
    drain_t *d = arg;
    for (;;) {
        if (d->cap - d->len < 65536) {
            d->cap = d->cap ? d->cap * 2 : 1 << 20;
            d->buf = sk_xrealloc(d->buf, d->cap);
        }
        ssize_t r = read(d->fd, d->buf + d->len, d->cap - d->len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        d->len += (size_t)r;
    }
    d->buf[d->len] = '\0';
    return NULL;
}

/* Four threads log at once into a pipe (where only writes up to PIPE_BUF
 * are atomic): every line comes out whole, in each thread's order. */
static void test_threads_never_interleave(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    drain_t d = {.fd = p[0]};
    pthread_t reader, th[THREADS];
    assert_int_equal(pthread_create(&reader, NULL, drainer, &d), 0);
    int saved = dup(2);
    assert_true(saved >= 0 && dup2(p[1], 2) == 2);
    close(p[1]);
    sk_log_set_json(true);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, logger, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    sk_log_set_json(false);
    assert_true(dup2(saved, 2) == 2); /* closes the pipe's last write end */
    close(saved);
    assert_int_equal(pthread_join(reader, NULL), 0);
    close(p[0]);
    char *out = d.buf;
    assert_int_equal(count_lines(out), THREADS * LINES);
    int seen[THREADS] = {0};
    for (char *line = out, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        json_error_t err;
        json_t *o = json_loadb(line, (size_t)(nl - line), JSON_REJECT_DUPLICATES, &err);
        assert_non_null(o);
        json_int_t id = json_integer_value(json_object_get(o, "thread"));
        assert_true(id >= 0 && id < THREADS);
        assert_int_equal(json_integer_value(json_object_get(o, "i")), seen[id]);
        assert_int_equal(json_string_length(json_object_get(o, "pad")), 500 + id * 1100);
        seen[id]++;
        json_decref(o);
    }
    free(out);
}

/* ---- syslog ---- */

static void test_syslog_switch(void **state)
{
    (void)state;
    char long_ident[80];
    memset(long_ident, 'x', sizeof(long_ident) - 1);
    long_ident[sizeof(long_ident) - 1] = '\0';
    assert_int_equal(sk_log_set_syslog(true, ""), -EINVAL);
    assert_int_equal(sk_log_set_syslog(true, long_ident), -EINVAL);
    long_ident[64] = '\0';
    assert_int_equal(sk_log_set_syslog(true, long_ident), -EINVAL);
    long_ident[63] = '\0';
    assert_int_equal(sk_log_set_syslog(true, long_ident), 0);
    assert_int_equal(sk_log_set_syslog(true, NULL), 0); /* again, as "sked" */

    /* with syslog on, stderr still gets every line, in both formats (the
     * syslog copies go wherever /dev/log leads, if anywhere) */
    capture_t c;
    capture_begin(&c);
    sk_log(SK_LOG_DEBUG, "event=hidden");
    sk_log(SK_LOG_INFO, "event=test_syslog job=a run=1");
    sk_log(SK_LOG_WARN, "event=test_syslog");
    sk_log_set_json(true);
    sk_log(SK_LOG_ERROR, "event=test_syslog msg=\"json\"");
    sk_log_set_json(false);
    char *out = capture_end(&c);
    assert_int_equal(count_lines(out), 3);
    assert_non_null(strstr(out, " info event=test_syslog job=a run=1\n"));
    assert_non_null(
        strstr(out, "\"level\":\"error\",\"event\":\"test_syslog\",\"msg\":\"json\"}\n"));
    free(out);

    assert_int_equal(sk_log_set_syslog(false, NULL), 0);
    assert_int_equal(sk_log_set_syslog(false, ""), 0); /* ident ignored when off */
}

/* In a child: 0 when both messages arrived as they should, 77 when the
 * namespace cannot be had, else the number of the failed check. */
static int syslog_child(void)
{
    int null = open("/dev/null", O_WRONLY);
    if (null < 0 || dup2(null, 2) != 2) /* the stderr copies are not wanted here */
        return 77;
    if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("none", "/dev", "tmpfs", 0, NULL) != 0)
        return 77;
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    sk_strlcpy(sa.sun_path, "/dev/log", sizeof(sa.sun_path));
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return 2;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (sk_log_set_syslog(true, "sked-test") != 0)
        return 3;
    sk_log(SK_LOG_WARN, "event=syslog_test job=a run=1");
    sk_log(SK_LOG_DEBUG, "event=not_sent"); /* below the level: neither place */
    sk_log_set_json(true);
    sk_log(SK_LOG_ERROR, "event=syslog_test msg=\"j k\"");
    sk_log_set_level(SK_LOG_DEBUG);
    sk_log(SK_LOG_DEBUG, "event=d");
    sk_log_set_syslog(false, NULL);
    sk_log(SK_LOG_INFO, "event=after_close");
    static const struct {
        const char *pri;  /* LOG_DAEMON (3 << 3) + the level */
        const char *tail; /* after "sked-test[pid]: " */
    } want[] = {
        {"<28>", "warn event=syslog_test job=a run=1"},
        {"<27>", "{\"level\":\"error\",\"event\":\"syslog_test\",\"msg\":\"j k\"}"},
        {"<31>", "{\"level\":\"debug\",\"event\":\"d\"}"},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(want); i++) {
        char buf[1024];
        ssize_t n = recv(s, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            return 10 + (int)i;
        buf[n] = '\0';
        char *tag = strstr(buf, " sked-test[");
        char *tail = tag ? strstr(tag, "]: ") : NULL;
        if (strncmp(buf, want[i].pri, 4) != 0 || !tail || strcmp(tail + 3, want[i].tail) != 0)
            return 20 + (int)i;
    }
    tv.tv_sec = 0;
    tv.tv_usec = 200000;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char extra[256];
    if (recv(s, extra, sizeof(extra), 0) > 0) /* nothing after closelog */
        return 30;
    return 0;
}

/* The child is this program again, run with SYSLOG_CHILD_ARG (a fresh
 * process: nothing of cmocka's, and valgrind does not follow it). */
#define SYSLOG_CHILD_ARG "--syslog-child"

static void test_syslog_messages(void **state)
{
    (void)state;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        print_message("(no /proc/self/exe: syslog messages not checked)\n");
        skip();
    }
    self[n] = '\0';
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *argv[] = {self, SYSLOG_CHILD_ARG, NULL};
        execv(self, argv);
        _exit(126);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        print_message("(no mount namespace here: syslog messages not checked)\n");
        skip();
    }
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], SYSLOG_CHILD_ARG) == 0)
        return syslog_child();
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_mode_unchanged),
        cmocka_unit_test(test_text_long_line_cut),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_errno_preserved),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_json_numbers),
        cmocka_unit_test(test_json_quoted_values),
        cmocka_unit_test(test_json_msg_and_duplicates),
        cmocka_unit_test(test_json_odd_bytes),
        cmocka_unit_test(test_json_long_text),
        cmocka_unit_test(test_json_many_fields),
        cmocka_unit_test(test_threads_never_interleave),
        cmocka_unit_test(test_syslog_switch),
        cmocka_unit_test(test_syslog_messages),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
