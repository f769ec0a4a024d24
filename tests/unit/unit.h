/* Helpers shared by the unit tests (header only: each test is one file). */
#ifndef SK_TEST_UNIT_H
#define SK_TEST_UNIT_H

#include "common/common.h"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

/* Removes path and, for a folder, everything in it; a missing path is fine. */
static inline void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (sk_streq(e->d_name, ".") || sk_streq(e->d_name, ".."))
                continue;
            char sub[PATH_MAX];
            sk_snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

#endif
