/*
 * Webhook signatures: the HMAC-SHA256 (RFC 2104 with SHA-256, test vectors
 * in RFC 4231) of a request's raw body with a shared secret, as GitHub
 * sends it ("sha256=" and 64 hex digits). OpenSSL's libcrypto computes it;
 * the comparison takes a time that does not depend on where the first
 * difference is (CRYPTO_memcmp). Exports sk_http_hmac_sha256 and
 * sk_http_sig_check.
 */
#include "http.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

void sk_http_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                         unsigned char ret[SK_HTTP_SHA256_LEN])
{
    unsigned int n = SK_HTTP_SHA256_LEN;
    /* A key longer than INT_MAX cannot be configured (secrets are at most
     * 64 KiB), so the cast is exact. */
    if (!HMAC(EVP_sha256(), key, (int)key_len, data, len, ret, &n) || n != SK_HTTP_SHA256_LEN)
        sk_panic("HMAC-SHA256 failed inside libcrypto");
}

const char *sk_http_sig_check(const void *key, size_t key_len, const void *body, size_t len,
                              const char *sig)
{
    if (!sig)
        return "the request is not signed";
    while (*sig == ' ' || *sig == '\t')
        sig++;
    if (strncmp(sig, "sha256=", 7) != 0)
        return "the signature is not of the form sha256=HEX (HMAC-SHA256 of the body)";
    sig += 7;
    unsigned char given[SK_HTTP_SHA256_LEN];
    for (size_t i = 0; i < SK_HTTP_SHA256_LEN; i++) {
        int hi = sk_hex_digit(sig[2 * i]), lo = hi < 0 ? -1 : sk_hex_digit(sig[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return "the signature is not of the form sha256=HEX (64 hex digits)";
        given[i] = (unsigned char)(hi << 4 | lo);
    }
    const char *end = sig + 2 * SK_HTTP_SHA256_LEN;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end)
        return "the signature is not of the form sha256=HEX (64 hex digits)";
    unsigned char want[SK_HTTP_SHA256_LEN];
    sk_http_hmac_sha256(key, key_len, body, len, want);
    bool same = CRYPTO_memcmp(given, want, sizeof(want)) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    return same ? NULL
                : "the signature does not match the body (HMAC-SHA256 with the hook's secret)";
}
