/*
 * libFuzzer target for durations: parses the input, and when it parses,
 * formats the value and requires the text to parse back to the same value.
 */
#include "../../src/common/common.h"

#define MAX_TEXT 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[MAX_TEXT + 1], out[64];
    int64_t ms, again;
    sk_err_t err;

    if (size > MAX_TEXT)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (sk_duration_parse(text, &ms, &err) < 0) {
        if (err.code != SK_EPARSE && err.code != SK_ERANGE)
            sk_panic("fuzz_duration: \"%s\": unexpected error code %d", text, err.code);
        return 0;
    }
    if (ms < 0)
        sk_panic("fuzz_duration: \"%s\" parsed to negative %" PRId64, text, ms);
    sk_duration_format(ms, out, sizeof(out));
    if (sk_duration_parse(out, &again, &err) < 0)
        sk_panic("fuzz_duration: \"%s\" = %" PRId64 "ms formats as \"%s\", which fails: %s", text,
                 ms, out, err.msg);
    if (again != ms)
        sk_panic("fuzz_duration: \"%s\" = %" PRId64 "ms formats as \"%s\" = %" PRId64 "ms", text,
                 ms, out, again);
    return 0;
}
