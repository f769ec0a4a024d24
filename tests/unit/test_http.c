/* The HTTP server's pieces that need no client: token comparison, the
 * embedded files, start-up refusals, serving on a unix socket, the names
 * and origins a TCP request may give, and the TCP rules as a detached
 * server applies them to raw requests. */
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
        "",
        "0",
        "0123456789abcdef-toke",
        "0123456789abcdef-tokeN",
        "0123456789abcdef-token!",
        "1123456789abcdef-token",
        "0123456789abcdef-token0123456789abcdef-token",
    };
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
        assert_false(sk_http_token_equal(wrong[i], strlen(wrong[i]), want));
    /* A presented token with an embedded NUL is compared by its length. */
    assert_false(sk_http_token_equal("0123456789abcdef-token\0x", 24, want));
    assert_true(sk_http_token_equal(want, strlen(want), want));
}

/* RFC 4231's HMAC-SHA256 test vectors (case 5, a truncated output, is not
 * a webhook's), then the signature header's forms. */
static void test_hook_signature(void **state)
{
    (void)state;
    unsigned char k20[20], k25[25], k131[131], dd[50], cd[50];
    memset(k20, 0x0b, sizeof(k20));
    for (size_t i = 0; i < sizeof(k25); i++)
        k25[i] = (unsigned char)(i + 1);
    memset(k131, 0xaa, sizeof(k131));
    memset(dd, 0xdd, sizeof(dd));
    memset(cd, 0xcd, sizeof(cd));
    unsigned char kaa[20];
    memset(kaa, 0xaa, sizeof(kaa));
    static const char big_data[] =
        "This is a test using a larger than block-size key and a larger than block-size data. "
        "The key needs to be hashed before being used by the HMAC algorithm.";
    const struct {
        const void *key;
        size_t key_len;
        const void *data;
        size_t len;
        const char *hex;
    } v[] = {
        {k20, 20, "Hi There", 8,
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {"Jefe", 4, "what do ya want for nothing?", 28,
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {kaa, 20, dd, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
        {k25, 25, cd, 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
        {k131, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        {k131, 131, big_data, sizeof(big_data) - 1,
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        unsigned char mac[SK_HTTP_SHA256_LEN];
        char hex[2 * SK_HTTP_SHA256_LEN + 1], sig[80];
        sk_http_hmac_sha256(v[i].key, v[i].key_len, v[i].data, v[i].len, mac);
        for (size_t b = 0; b < sizeof(mac); b++)
            snprintf(hex + 2 * b, 3, "%02x", mac[b]);
        assert_string_equal(hex, v[i].hex);
        snprintf(sig, sizeof(sig), "sha256=%s", v[i].hex);
        assert_null(sk_http_sig_check(v[i].key, v[i].key_len, v[i].data, v[i].len, sig));
        /* Upper-case hex is the same signature. */
        for (char *p = sig + 7; *p; p++)
            if (*p >= 'a' && *p <= 'f')
                *p = (char)(*p - 'a' + 'A');
        assert_null(sk_http_sig_check(v[i].key, v[i].key_len, v[i].data, v[i].len, sig));
        /* One bit off anywhere, or one byte more of data: no. */
        sig[7 + 63] = sig[7 + 63] == '0' ? '1' : '0';
        assert_non_null(sk_http_sig_check(v[i].key, v[i].key_len, v[i].data, v[i].len, sig));
        snprintf(sig, sizeof(sig), "sha256=%s", v[i].hex);
        assert_non_null(sk_http_sig_check(v[i].key, v[i].key_len, v[i].data, v[i].len - 1, sig));
    }
    const char *hex1 = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    const char *d = "what do ya want for nothing?";
    assert_null(sk_http_sig_check("Jefe", 4, d, 28, hex1));
    static const char *const bad[] = {
        "",
        "sha1=5bdcc146bf60754e6a042426089575c75a003f08",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec384",
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec38430",
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec384g",
        "sha256=",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_non_null(sk_http_sig_check("Jefe", 4, d, 28, bad[i]));
    assert_string_equal(sk_http_sig_check("Jefe", 4, d, 28, NULL), "the request is not signed");
    /* The expected value never appears in what is said. */
    const char *why = sk_http_sig_check("Jefe", 4, d, 28,
                                        "sha256=" /* wrong */
                                        "00000000000000000000000000000000"
                                        "00000000000000000000000000000000");
    assert_non_null(strstr(why, "does not match"));
    assert_null(strstr(why, "5bdcc146"));
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
    sk_http_opts_t o = {.unix_path = "/tmp/sked-unused.sock",
                        .host = "0.0.0.0",
                        .port = 1,
                        .handler = echo,
                        .data = &calls};
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
    sk_http_opts_t o3 = {.unix_path = "/tmp/sked-unused.sock",
                         .host = "example.com",
                         .port = 80,
                         .admin_token = "0123456789abcdef0",
                         .handler = echo,
                         .data = &calls};
    sk_err_clear(&err);
    assert_true(sk_http_start(&o3, &s, &err) < 0);
    assert_non_null(strstr(err.msg, "not an IP address"));
}

static void test_host_allowed(void **state)
{
    (void)state;
    static const char *const names[] = {"sked.example.com", "ops", NULL};
    static const struct {
        const char *host;
        bool ok;
    } rows[] = {
        {"127.0.0.1", true},
        {"127.0.0.1:8080", true},
        {"127.0.0.2:1", true},
        {"10.1.2.3:8080", true},
        {"[::1]", true},
        {"[::1]:8080", true},
        {"[0:0::1]:80", true},
        {"localhost", true},
        {"LocalHost:8080", true},
        {"localhost.", true},
        {"sked.example.com", true},
        {"SKED.example.COM:443", true},
        {"sked.example.com.:80", true},
        {"ops:1", true},
        {"attacker.example", false},
        {"attacker.example:8080", false},
        {"localhost.attacker.example", false},
        {"127.0.0.1.attacker.example", false},
        {"example.com", false},
        {"sked.example.com.evil", false},
        {"", false},
        {":8080", false},
        {"127.0.0.1:", false},
        {"127.0.0.1:80x", false},
        {"127.0.0.1:123456", false},
        {"[::1", false},
        {"[::1]x", false},
        {"[sked.example.com]", false},
        {"::1", false},
        {"localhost:80:80", false},
        {"127.1", false},
        {"127.0.0.1.", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (sk_http_host_allowed(rows[i].host, names) != rows[i].ok)
            fail_msg("Host \"%s\": expected %s", rows[i].host, rows[i].ok ? "allowed" : "refused");
    }
    assert_false(sk_http_host_allowed("sked.example.com", NULL));
    assert_true(sk_http_host_allowed("localhost", NULL));
}

static void test_same_origin(void **state)
{
    (void)state;
    static const struct {
        const char *origin, *host;
        bool same;
    } rows[] = {
        {"http://127.0.0.1:8080", "127.0.0.1:8080", true},
        {"http://localhost:8080", "LOCALHOST:8080", true},
        {"HTTP://Sked.Example.com", "sked.example.com", true},
        {"http://sked.example.com", "sked.example.com:80", true},
        {"https://sked.example.com", "sked.example.com", true}, /* a TLS proxy in front */
        {"https://sked.example.com:443", "sked.example.com", true},
        {"http://[::1]:8080", "[::1]:8080", true},
        {"http://[0::1]:8080", "[::1]:8080", true},
        {"http://evil.example", "127.0.0.1:8080", false},
        {"http://127.0.0.1:9999", "127.0.0.1:8080", false}, /* same site, another port */
        {"http://localhost:8080", "127.0.0.1:8080", false},
        {"https://sked.example.com", "sked.example.com:80", false},
        {"http://sked.example.com", "sked.example.com:443", false},
        {"http://127.0.0.1:8080.evil.example", "127.0.0.1:8080", false},
        {"http://127.0.0.1:8080/", "127.0.0.1:8080", false},
        {"http://user@127.0.0.1:8080", "127.0.0.1:8080", false},
        {"null", "127.0.0.1:8080", false},
        {"file://", "127.0.0.1:8080", false},
        {"ftp://127.0.0.1:8080", "127.0.0.1:8080", false},
        {"", "127.0.0.1:8080", false},
        {"http://", "127.0.0.1:8080", false},
        {"http://127.0.0.1:8080", "", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (sk_http_same_origin(rows[i].origin, rows[i].host) != rows[i].same)
            fail_msg("Origin \"%s\", Host \"%s\": expected %s", rows[i].origin, rows[i].host,
                     rows[i].same ? "the same" : "another origin");
    }
}

/* The status line's code of a raw answer, or 0. */
static int status_of(const char *reply)
{
    return strncmp(reply, "HTTP/1.1 ", 9) == 0 ? (int)strtol(reply + 9, NULL, 10) : 0;
}

static int feed(sk_http_server_t *s, bool tcp, const char *req)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(sk_http__feed(s, tcp, req, strlen(req), &out, &len), 0);
    int st = status_of(out);
    free(out);
    return st;
}

static void test_tcp_rules(void **state)
{
    (void)state;
    int calls = 0;
    static const char *const names[] = {"sked.example.com", NULL};
    sk_http_opts_t o = {.handler = echo, .data = &calls, .allowed_hosts = names};
    sk_http_server_t *s = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    assert_int_equal(sk_http__start_detached(&o, &s, &err), 0);
    static const struct {
        const char *req;
        int tcp, unix;
    } rows[] = {
        {"GET /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", 200, 200},
        {"GET /x HTTP/1.1\r\nHost: attacker.example\r\n\r\n", 421, 200},
        {"GET /x HTTP/1.1\r\nHost: sked.example.com\r\n\r\n", 200, 200},
        {"GET /x HTTP/1.0\r\n\r\n", 200, 200},
        {"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n"
         "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
         403, 200},
        {"POST /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nOrigin: http://127.0.0.1:8080\r\n"
         "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
         200, 200},
        {"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: cross-site\r\n\r\n", 403, 200},
        {"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: same-origin\r\n\r\n", 200, 200},
        {"DELETE /x HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: null\r\n\r\n", 403, 200},
        {"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
         "Content-Length: 2\r\n\r\n{}",
         415, 200},
        {"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded"
         "\r\nContent-Length: 0\r\n\r\n",
         415, 200},
        {"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}", 415, 200},
        {"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
         "Content-Type: application/json; charset=utf-8\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
         200, 200},
        {"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", 200, 200},
        {"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n\r\n", 200, 200},
        /* Quoted in the refusal, a Host that is not UTF-8 once crashed the server. */
        {"GET /x HTTP/1.1\r\nHost: a\377\377ttacker.example\r\n\r\n", 421, 200},
        {"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://\377\r\n\r\n", 403, 200},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int tcp = feed(s, true, rows[i].req), unx = feed(s, false, rows[i].req);
        if (tcp != rows[i].tcp || unx != rows[i].unix)
            fail_msg("row %zu: TCP %d (expected %d), control socket %d (expected %d)", i, tcp,
                     rows[i].tcp, unx, rows[i].unix);
    }
    sk_http_stop(s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_equal),    cmocka_unit_test(test_assets),
        cmocka_unit_test(test_hook_signature), cmocka_unit_test(test_serve_unix),
        cmocka_unit_test(test_start_refusals), cmocka_unit_test(test_host_allowed),
        cmocka_unit_test(test_same_origin),    cmocka_unit_test(test_tcp_rules),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
