/*
 * The request deadline of TCP connections (http_int.h). libmicrohttpd's
 * timeout is an idle timeout, which a client trickling one byte at a time
 * resets forever. So the server queues each TCP connection when it is
 * accepted (and again after each answer) and takes it out when its request
 * is whole, and a watchdog thread shuts down (shutdown(2), never close: the
 * descriptor stays libmicrohttpd's) the socket of the oldest entry once its
 * deadline passes; the connection's thread then sees the end of its input
 * and closes as usual. The queue's mutex makes the shutdown safe:
 * libmicrohttpd closes a socket only after telling the server it is closed
 * (MHD_CONNECTION_NOTIFY_CLOSED), which takes the entry out under that
 * mutex, so a queued descriptor is always still open.
 */
#include "http_int.h"
#include "../common/log.h"

#include <sys/socket.h>

static void watch_unlink(sk_http_watchdog_t *wd, sk_http_watch_t *c)
{
    if (!c->queued)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        wd->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        wd->tail = c->prev;
    c->prev = c->next = NULL;
    c->queued = false;
}

void sk_http__watch_arm(sk_http_watchdog_t *wd, sk_http_watch_t *c)
{
    pthread_mutex_lock(&wd->mu);
    watch_unlink(wd, c);
    c->due_ms = sk_mono_ms() + SK_HTTP_REQUEST_DEADLINE_MS;
    c->prev = wd->tail;
    if (wd->tail)
        wd->tail->next = c;
    else
        wd->head = c;
    wd->tail = c;
    c->queued = true;
    if (wd->head == c)
        pthread_cond_signal(&wd->cv);
    pthread_mutex_unlock(&wd->mu);
}

void sk_http__watch_disarm(sk_http_watchdog_t *wd, sk_http_watch_t *c)
{
    pthread_mutex_lock(&wd->mu);
    watch_unlink(wd, c);
    pthread_mutex_unlock(&wd->mu);
}

/* The watchdog thread: sleeps until the oldest deadline, then cuts that
 * connection, until sk_http__watchdog_release stops it. */
static void *watchdog_main(void *arg)
{
    sk_http_watchdog_t *wd = arg;
    pthread_mutex_lock(&wd->mu);
    while (!wd->stop) {
        if (!wd->head) {
            pthread_cond_wait(&wd->cv, &wd->mu);
            continue;
        }
        int64_t now = sk_mono_ms();
        sk_http_watch_t *c = wd->head;
        if (c->due_ms > now) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            int64_t wait = c->due_ms - now;
            until.tv_sec += (time_t)(wait / 1000);
            until.tv_nsec += (long)(wait % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&wd->cv, &wd->mu, &until);
            continue;
        }
        /* Overdue: its thread sees the end of its input and closes it. The
         * descriptor is open: it is closed only after NOTIFY_CLOSED, which
         * takes c out of the queue under this mutex. */
        watch_unlink(wd, c);
        shutdown(c->fd, SHUT_RDWR);
        wd->cut++;
        if (wd->cut_logged == 0 || now - wd->logged_at >= SK_HTTP_LOG_REPEAT_MS) {
            uint64_t n = wd->cut - wd->cut_logged;
            wd->cut_logged = wd->cut;
            wd->logged_at = now;
            pthread_mutex_unlock(&wd->mu);
            sk_log(SK_LOG_WARN,
                   "event=http_slow_request connections=%" PRIu64 " total=%" PRIu64
                   " msg=\"a client did not send its whole request within %d s: connection "
                   "closed\"",
                   n, wd->cut, SK_HTTP_REQUEST_DEADLINE_MS / 1000);
            pthread_mutex_lock(&wd->mu);
        }
    }
    pthread_mutex_unlock(&wd->mu);
    return NULL;
}

int sk_http__watchdog_init(sk_http_watchdog_t *wd, bool thread)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&wd->mu, NULL);
    pthread_cond_init(&wd->cv, &ca);
    pthread_condattr_destroy(&ca);
    wd->inited = true;
    if (!thread)
        return 0;
    int e = pthread_create(&wd->thread, NULL, watchdog_main, wd);
    if (e)
        return -e;
    wd->running = true;
    return 0;
}

void sk_http__watchdog_release(sk_http_watchdog_t *wd)
{
    if (wd->running) {
        pthread_mutex_lock(&wd->mu);
        wd->stop = true;
        pthread_cond_signal(&wd->cv);
        pthread_mutex_unlock(&wd->mu);
        pthread_join(wd->thread, NULL);
        wd->running = false;
    }
    pthread_mutex_destroy(&wd->mu);
    pthread_cond_destroy(&wd->cv);
}
