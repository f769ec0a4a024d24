/* The HTTP server's pieces that need no client: token comparison, the
 * embedded files, start-up refusals, and serving on a unix socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "http/http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <sys/stat.h>

static void test_token_equal(void **state)
{
    (void)state;
    const char *want = "0123456789abcdef-token";
    assert_true(sk_http_token_equal(want, strlen(want), want));
    static const char *const wrong[] = {
        "", "0", "0123456789abcdef-toke", "0123456789abcdef-tokeN", "0123456789abcdef-token!",
        "1123456789abcdef-token", "0123456789abcdef-token0123456789abcdef-token",
    };
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
        assert_false(sk_http_token_equal(wrong[i], strlen(wrong[i]), want));
    /* A presented token with an embedded NUL is compared by its length. */
    assert_false(sk_http_token_equal("0123456789abcdef-token\0x", 24, want));
    assert_true(sk_http_token_equal(want, strlen(want), want));
}

static void test_assets(void **state)
{
    (void)state;
    const sk_http_asset_t *a = sk_http_asset("/");
    assert_non_null(a);
    assert_string_equal(a->path, "/index.html");
    assert_string_equal(a->ctype, "text/html; charset=utf-8");
    assert_true(a->len > 100);
    assert_int_equal(a->data[a->len], 0); /* NUL-terminated past the end */
    a = sk_http_asset("/app.js");
    assert_non_null(a);
    assert_string_equal(a->ctype, "text/javascript; charset=utf-8");
    assert_non_null(sk_http_asset("/style.css"));
    assert_null(sk_http_asset("/nope.js"));
    assert_null(sk_http_asset("/../index.html"));
    assert_null(sk_http_asset("index.html"));
}

static void echo(void *data, sk_http_req_t *r)
{
    int *calls = data;
    (*calls)++;
    json_t *o = json_pack("{s:s, s:s, s:i, s:b}", "method", r->method, "path", r->path, "role",
                          (int)r->role, "tcp", r->tcp);
    json_object_set_new(o, "body", json_stringn(r->body, r->body_len));
    sk_http_json(r, 200, o);
}

static size_t collect(char *p, size_t size, size_t n, void *data)
{
    char **buf = data;
    size_t old = *buf ? strlen(*buf) : 0;
    *buf = realloc(*buf, old + size * n + 1);
    memcpy(*buf + old, p, size * n);
    (*buf)[old + size * n] = '\0';
    return size * n;
}

static long request(const char *sock, const char *method, const char *path, const char *body,
                    char **ret)
{
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "http://x%s", path);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, ret);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static void test_serve_unix(void **state)
{
    (void)state;
    char dir[] = "/tmp/sked-http-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sock[300];
    snprintf(sock, sizeof(sock), "%s/sked.sock", dir);
    int calls = 0;
    sk_http_opts_t o = {.unix_path = sock, .handler = echo, .data = &calls};
    sk_http_server_t *s = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    assert_int_equal(sk_http_start(&o, &s, &err), 0);
    struct stat st;
    assert_int_equal(stat(sock, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    char *reply = NULL;
    assert_int_equal(request(sock, "POST", "/a/b%20c?x=1", "{\"k\": 1}", &reply), 200);
    json_t *j = json_loads(reply, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "method")), "POST");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/a/b c");
    assert_string_equal(json_string_value(json_object_get(j, "body")), "{\"k\": 1}");
    assert_int_equal(json_integer_value(json_object_get(j, "role")), SK_HTTP_ROLE_ADMIN);
    assert_false(json_is_true(json_object_get(j, "tcp")));
    json_decref(j);
    free(reply);
    reply = NULL;

    /* Larger than 64 KiB: refused before the handler sees it. */
    char *big = malloc(SK_HTTP_MAX_BODY + 2);
    memset(big, 'x', SK_HTTP_MAX_BODY + 1);
    big[SK_HTTP_MAX_BODY + 1] = '\0';
    assert_int_equal(request(sock, "POST", "/big", big, &reply), 413);
    assert_non_null(strstr(reply, "64 KiB"));
    free(big);
    free(reply);
    assert_int_equal(calls, 1);
    assert_false(sk_http_stopping(s));
    sk_http_stop(s);
    assert_int_equal(stat(sock, &st), -1); /* removed */
    rmdir(dir);
}

static void test_start_refusals(void **state)
{
    (void)state;
    sk_http_server_t *s = (sk_http_server_t *)1;
    sk_err_t err;
    int calls = 0;
    sk_http_opts_t o = {.unix_path = "/tmp/sked-unused.sock", .host = "0.0.0.0", .port = 1,
                        .handler = echo, .data = &calls};
    sk_err_clear(&err);
    assert_true(sk_http_start(&o, &s, &err) < 0);
    assert_null(s);
    assert_non_null(strstr(err.msg, "not a loopback address"));
    /* A socket path too long for sun_path. */
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    sk_http_opts_t o2 = {.unix_path = longp, .handler = echo, .data = &calls};
    sk_err_clear(&err);
    assert_true(sk_http_start(&o2, &s, &err) < 0);
    assert_non_null(strstr(err.msg, "too long"));
    /* A host that is no IP address. */
    sk_http_opts_t o3 = {.unix_path = "/tmp/sked-unused.sock", .host = "example.com", .port = 80,
                         .admin_token = "0123456789abcdef0", .handler = echo, .data = &calls};
    sk_err_clear(&err);
    assert_true(sk_http_start(&o3, &s, &err) < 0);
    assert_non_null(strstr(err.msg, "not an IP address"));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_equal),
        cmocka_unit_test(test_assets),
        cmocka_unit_test(test_serve_unix),
        cmocka_unit_test(test_start_refusals),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
