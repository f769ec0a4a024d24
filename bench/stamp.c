/*
 * stamp FILE [TAG]: the process whose start time the fire-precision
 * benchmark measures. The first thing main does is read CLOCK_REALTIME; it
 * then appends one line "SECONDS.NANOSECONDS TAG\n" to FILE with a single
 * O_APPEND write (atomic for a line this short, so concurrent stamps never
 * interleave). TAG is argv[2], else $SKED_RUN_ID (set by sked), else "-".
 * Exit status 0, or 1 with a message if FILE cannot be written.
 *
 * Plain POSIX, no sked code: every contender launches this same binary, so
 * exec and dynamic-loading costs are the same on every side.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: stamp FILE [TAG]\n");
        return 2;
    }
    const char *tag = argc == 3 ? argv[2] : getenv("SKED_RUN_ID");
    if (!tag || !*tag)
        tag = "-";
    char line[256];
    int n = snprintf(line, sizeof(line), "%lld.%09ld %s\n", (long long)ts.tv_sec, ts.tv_nsec, tag);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        fprintf(stderr, "stamp: tag too long\n");
        return 1;
    }
    int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, line, (size_t)n) != n) {
        fprintf(stderr, "stamp: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    close(fd);
    return 0;
}
