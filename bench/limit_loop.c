/*
 * limit_loop SECONDS STAMP FILE: the floor for firing a process on time.
 * Sleeps with clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME) to each whole
 * second, starting with the second after next, and posix_spawns
 * `STAMP FILE INTENDED_MS` there, SECONDS times; children are reaped
 * (waitpid WNOHANG) between fires, so that no bookkeeping sits between the
 * wake-up and the spawn. No store, no logging, no event loop: whatever a
 * scheduler adds on top of this is its own cost.
 * Exit status 0, 1 on a failed spawn, 2 on a usage error.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: limit_loop SECONDS STAMP FILE\n");
        return 2;
    }
    long count = strtol(argv[1], NULL, 10);
    if (count <= 0) {
        fprintf(stderr, "limit_loop: SECONDS must be positive\n");
        return 2;
    }
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += 2;
    t.tv_nsec = 0;
    int failed = 0;
    for (long k = 0; k < count; k++, t.tv_sec++) {
        int r;
        while ((r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &t, NULL)) == EINTR)
            ;
        if (r != 0) {
            fprintf(stderr, "limit_loop: clock_nanosleep: %s\n", strerror(r));
            return 1;
        }
        char tag[32];
        snprintf(tag, sizeof(tag), "%lld", (long long)t.tv_sec * 1000);
        char *args[] = {argv[2], argv[3], tag, NULL};
        pid_t pid;
        r = posix_spawn(&pid, argv[2], NULL, NULL, args, environ);
        if (r != 0) {
            fprintf(stderr, "limit_loop: posix_spawn %s: %s\n", argv[2], strerror(r));
            failed = 1;
        }
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
    }
    while (waitpid(-1, NULL, 0) > 0)
        ;
    return failed;
}
