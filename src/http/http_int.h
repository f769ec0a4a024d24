/*
 * The HTTP module's insides: the request deadline (http_deadline.c), which
 * the server (http.c) arms for each TCP connection. Not for use outside
 * src/http. docs/internals/http.md, "Threads", explains the deadline.
 */
#ifndef SK_HTTP_INT_H
#define SK_HTTP_INT_H

#include "http.h"

#include <pthread.h>

/* Repeated messages (a flood refused at the connection limits, slow
 * clients cut) are logged at most this often, with a count. */
#define SK_HTTP_LOG_REPEAT_MS 10000

/* A TCP connection while its request is due: in its listener's queue,
 * oldest deadline first (every deadline is "now + the same delay", so
 * appending keeps the order). The server allocates it when the connection
 * is accepted and frees it after sk_http__watch_disarm when the connection
 * closes; fd is the connection's socket (libmicrohttpd's, never closed
 * here), -1 when unknown (then it is never armed). */
typedef struct sk_http_watch {
    struct sk_http_watch *prev, *next;
    int fd;
    int64_t due_ms; /* monotonic */
    bool queued;
} sk_http_watch_t;

/* The queue and the thread that enforces its deadlines (one per TCP
 * listener, embedded in it; zeroed before sk_http__watchdog_init). */
typedef struct sk_http_watchdog {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC; signalled when the head changes or at stop */
    sk_http_watch_t *head, *tail;
    pthread_t thread;
    bool inited, running, stop;
    uint64_t cut; /* connections shut down so far, and how many of them were logged */
    uint64_t cut_logged;
    int64_t logged_at;
} sk_http_watchdog_t;

/*
 * Initialises wd (zeroed) and, when thread is true, starts its thread,
 * which shutdown(2)s the socket of each queued connection whose deadline
 * has passed and logs it (event=http_slow_request, folded as above).
 * Without the thread (a detached server) the queue is kept but nothing is
 * cut. Returns 0, or -errno when the thread cannot start (wd is then
 * initialised: release it). Any thread.
 */
int sk_http__watchdog_init(sk_http_watchdog_t *wd, bool thread);
/* Stops wd's thread and releases wd (initialised by sk_http__watchdog_init,
 * whatever it returned). Only after every connection is gone
 * (MHD_stop_daemon), so that no watch is queued. */
void sk_http__watchdog_release(sk_http_watchdog_t *wd);
/* (Re)starts c's deadline: a whole request is due SK_HTTP_REQUEST_DEADLINE_MS
 * from now. c is borrowed and stays queued until disarmed or cut; c->fd must
 * stay open until sk_http__watch_disarm. Any thread. */
void sk_http__watch_arm(sk_http_watchdog_t *wd, sk_http_watch_t *c);
/* Takes c out of the queue, if it is in it: its deadline no longer runs.
 * Any thread. */
void sk_http__watch_disarm(sk_http_watchdog_t *wd, sk_http_watch_t *c);

#endif
