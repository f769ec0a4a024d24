/*
 * forkexec_limit N PARALLEL [PROGRAM]: the floor for launch throughput.
 * fork()s and execv()s PROGRAM (default /bin/true) N times, never more than
 * PARALLEL at once (a blocking waitpid frees a slot), as sked's runner does
 * (libuv's uv_spawn forks). Prints "runs=N parallel=P seconds=S rate=R/s"
 * measured on CLOCK_MONOTONIC from the first fork to the last reap, and the
 * count of runs that did not exit 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: forkexec_limit N PARALLEL [PROGRAM]\n");
        return 2;
    }
    long n = strtol(argv[1], NULL, 10), par = strtol(argv[2], NULL, 10);
    char *prog = argc == 4 ? argv[3] : "/bin/true";
    if (n <= 0 || par <= 0) {
        fprintf(stderr, "forkexec_limit: N and PARALLEL must be positive\n");
        return 2;
    }
    long started = 0, running = 0, bad = 0;
    double t0 = now_s();
    while (started < n || running > 0) {
        while (started < n && running < par) {
            pid_t pid = fork();
            if (pid < 0) {
                perror("forkexec_limit: fork");
                return 1;
            }
            if (pid == 0) {
                char *args[] = {prog, NULL};
                execv(prog, args);
                _exit(127);
            }
            started++;
            running++;
        }
        int status;
        if (waitpid(-1, &status, 0) > 0) {
            running--;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                bad++;
        }
    }
    double dt = now_s() - t0;
    printf("runs=%ld parallel=%ld seconds=%.6f rate=%.1f/s failed=%ld\n", n, par, dt, n / dt, bad);
    return bad ? 1 : 0;
}
