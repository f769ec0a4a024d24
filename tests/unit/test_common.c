/*
 * The small shared helpers of src/common/ that several modules use instead
 * of writing their own: FNV-1a (published test vectors, and pieces hashing
 * like the whole), sk_mkdir_p and the /proc readers of platform.c.
 */
#include "common/common.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

/* ---- FNV-1a ---- */

typedef struct {
    const char *text;
    uint64_t h64;
    uint32_t h32;
} fnv_case_t;

/* From the FNV reference's test vectors (Fowler, Noll, Vo). */
static const fnv_case_t fnv_cases[] = {
    {"", 0xcbf29ce484222325ULL, 0x811c9dc5u},
    {"a", 0xaf63dc4c8601ec8cULL, 0xe40c292cu},
    {"foobar", 0x85944171f73967e8ULL, 0xbf9cf968u},
};

static void test_fnv_known_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < SK_ARRAY_LEN(fnv_cases); i++) {
        const fnv_case_t *c = &fnv_cases[i];
        assert_int_equal(sk_fnv64(SK_FNV64_INIT, c->text, strlen(c->text)), c->h64);
        assert_int_equal(sk_fnv32(SK_FNV32_INIT, c->text, strlen(c->text)), c->h32);
    }
}

static void test_fnv_pieces_hash_like_the_whole(void **state)
{
    (void)state;
    uint64_t h = sk_fnv64(SK_FNV64_INIT, "foo", 3);
    assert_int_equal(sk_fnv64(h, "bar", 3), 0x85944171f73967e8ULL);
    uint32_t g = sk_fnv32(SK_FNV32_INIT, "fo", 2);
    assert_int_equal(sk_fnv32(g, "obar", 4), 0xbf9cf968u);
}

/* ---- sk_mkdir_p ---- */

static char tmp[256];

static int make_tmp(void **state)
{
    (void)state;
    sk_snprintf(tmp, sizeof(tmp), "/tmp/sked-test-common-XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int remove_tmp(void **state)
{
    (void)state;
    char *argv[] = {"rm", "-rf", tmp, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return 0;
}

static void test_mkdir_p_makes_parents_with_mode(void **state)
{
    (void)state;
    char dir[512], mid[512];
    struct stat st;
    sk_snprintf(dir, sizeof(dir), "%s/a//b/c/", tmp);
    sk_snprintf(mid, sizeof(mid), "%s/a/b", tmp);
    assert_int_equal(sk_mkdir_p(dir, 0700), 0);
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(stat(mid, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* Again: what exists is fine. */
    assert_int_equal(sk_mkdir_p(dir, 0700), 0);
}

static void test_mkdir_p_file_in_the_way_is_enotdir(void **state)
{
    (void)state;
    char file[512], below[512];
    sk_snprintf(file, sizeof(file), "%s/plain", tmp);
    sk_snprintf(below, sizeof(below), "%s/plain/sub", tmp);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(sk_mkdir_p(file, 0700), -ENOTDIR);
    assert_int_equal(sk_mkdir_p(below, 0700), -ENOTDIR);
}

/* ---- /proc ---- */

static void test_procfs_read_own_cmdline(void **state)
{
    (void)state;
    char buf[4096];
    ssize_t n = sk_procfs_read((int)getpid(), "cmdline", buf, sizeof(buf));
    assert_true(n > 0);
    assert_non_null(strstr(buf, "test_common"));
    assert_int_equal(sk_procfs_read((int)getpid(), "no-such-file", buf, sizeof(buf)), -ENOENT);
}

static bool find_pid(int pid, void *data)
{
    return pid == *(int *)data;
}

static void test_procfs_each_pid_and_same_exe(void **state)
{
    (void)state;
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    assert_true(child > 0);
    int want = (int)child;
    assert_int_equal(sk_procfs_each_pid(find_pid, &want), 1);
    /* A fork runs our executable; under valgrind, /proc/self/exe is ours
     * but the child's /proc/PID/exe is valgrind's own tool. */
    const char *preload = getenv("LD_PRELOAD");
    if (!preload || !strstr(preload, "vgpreload"))
        assert_true(sk_procfs_same_exe(want));
    want = (int)getpid();
    assert_int_equal(sk_procfs_each_pid(find_pid, &want), 0); /* never our own */
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_false(sk_procfs_same_exe((int)child)); /* gone */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv_known_values),
        cmocka_unit_test(test_fnv_pieces_hash_like_the_whole),
        cmocka_unit_test_setup_teardown(test_mkdir_p_makes_parents_with_mode, make_tmp, remove_tmp),
        cmocka_unit_test_setup_teardown(test_mkdir_p_file_in_the_way_is_enotdir, make_tmp,
                                        remove_tmp),
        cmocka_unit_test(test_procfs_read_own_cmdline),
        cmocka_unit_test(test_procfs_each_pid_and_same_exe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
