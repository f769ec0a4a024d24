/*
 * The Prometheus metrics registry: counters, gauges and histograms about jobs,
 * runs, fires, alerts, the store and the API, rendered in the text exposition
 * format 0.0.4. The loop thread updates it; HTTP threads render it. One mutex
 * guards everything; rendering copies the numbers under it and formats outside
 * it, so a scrape of 100,000 jobs holds the lock only for a memcpy-sized
 * moment. Depends on common only.
 *
 * Families (every one with # HELP and # TYPE, each family's lines together):
 *   sked_build_info{version}                     gauge, always 1
 *   sked_start_time_seconds                      gauge, unix seconds
 *   sked_uptime_seconds                          gauge
 *   sked_jobs, sked_runs_running, sked_runs_waiting   gauges
 *   sked_runs_total{job,outcome}                 counter
 *   sked_fires_total{job}                        counter
 *   sked_run_duration_seconds{job}               histogram
 *       le 0.1 0.5 1 5 10 30 60 300 900 3600 +Inf
 *   sked_fire_lateness_seconds                   histogram, all jobs together
 *       le 0.001 0.005 0.01 0.05 0.1 0.5 1 5 +Inf
 *   sked_job_next_fire_timestamp_seconds{job}    gauge
 *   sked_job_paused{job}                         gauge, 0 or 1
 *   sked_alert_deliveries_total{channel,state}   counter
 *   sked_store_errors_total                      counter
 *   sked_api_requests_total{code}                counter, code "2xx".."5xx"
 *
 * Which series appear: per-job series exist only for jobs in the registry
 * (created by sk_metrics_job, gone after sk_metrics_job_remove). For every
 * job: sked_fires_total, sked_job_paused, and sked_runs_total for outcomes
 * "succeeded" and "failed" (so rate() sees the first run); the other outcomes
 * appear once non-zero. sked_run_duration_seconds appears for a job once it
 * has observed a duration (a full histogram per idle job would be 13 lines
 * each). sked_job_next_fire_timestamp_seconds appears while a job has a next
 * fire. Every alert channel x state and every status class is always
 * present. Jobs are listed in byte order of their names.
 */
#ifndef SK_METRICS_H
#define SK_METRICS_H

#include "../common/common.h"

typedef struct sk_metrics sk_metrics_t;
/* One job's series. The pointer stays valid until sk_metrics_job_remove or
 * sk_metrics_free. */
typedef struct sk_metrics_job sk_metrics_job_t;

/*
 * Thread safety, for every function below: each takes the registry's mutex,
 * so any thread may call any of them, with two rules: a job handle must not
 * be used after it was removed (in practice only the loop thread creates,
 * uses and removes jobs), and sk_metrics_free must not race with anything.
 * Functions taking m do nothing when m is NULL; those taking j skip their
 * per-job part when j is NULL. Label values are escaped as the format wants
 * (backslash, double quote, line feed); bytes that are not UTF-8 become
 * U+FFFD.
 */

/*
 * A new, empty registry. version (borrowed, copied) is the build_info label;
 * start_ms is the daemon's start, unix milliseconds. Never NULL (allocation
 * failure aborts).
 */
sk_metrics_t *sk_metrics_new(const char *version, int64_t start_ms);
/* Frees the registry and every job handle. NULL is a no-op. */
void sk_metrics_free(sk_metrics_t *m);

/*
 * The job called name (borrowed, copied), created with zero counters if it
 * is not there yet. O(1) on average (a hash map). Returns a handle owned by
 * the registry; NULL only when m is NULL.
 */
sk_metrics_job_t *sk_metrics_job(sk_metrics_t *m, const char *name);
/*
 * Removes a job (it left the configuration on reload) and frees j: its series
 * disappear from the next render. Adding the name again starts from zero,
 * which Prometheus reads as a counter reset. NULL j is a no-op.
 */
void sk_metrics_job_remove(sk_metrics_t *m, sk_metrics_job_t *j);

/*
 * A run of j ended. outcome is one of succeeded failed timed_out killed
 * skipped missed interrupted (the run status names of store.h); any other
 * text is ignored. duration_s >= 0 is observed in j's duration histogram;
 * duration_s < 0 (or NaN) counts the run without a duration (skipped,
 * missed).
 */
void sk_metrics_run_ended(sk_metrics_t *m, sk_metrics_job_t *j, const char *outcome,
                          double duration_s);
/*
 * A scheduled fire started lateness_s after its instant: counted in j's
 * sked_fires_total and observed in the global lateness histogram (negative
 * lateness counts as 0; NaN is not observed).
 */
void sk_metrics_fire(sk_metrics_t *m, sk_metrics_job_t *j, double lateness_s);
/* j's next fire, unix milliseconds; 0 means it has none (the series goes). */
void sk_metrics_next_fire(sk_metrics_t *m, sk_metrics_job_t *j, int64_t unix_ms);
/* Whether j is paused. */
void sk_metrics_paused(sk_metrics_t *m, sk_metrics_job_t *j, bool paused);
/* The current number of running runs, waiting (queued) runs, and jobs. */
void sk_metrics_gauges(sk_metrics_t *m, int running, int waiting, int jobs);
/*
 * One alert delivery event. channel: webhook slack email command; state:
 * delivered failed dropped retried. Other text is ignored.
 */
void sk_metrics_alert(sk_metrics_t *m, const char *channel, const char *state);
/* One store operation failed. */
void sk_metrics_store_error(sk_metrics_t *m);
/* One API response with this HTTP status, counted by class 2xx..5xx;
 * statuses outside 200-599 are ignored. */
void sk_metrics_api_request(sk_metrics_t *m, int status);

/*
 * The registry in Prometheus text format 0.0.4 (Content-Type
 * "text/plain; version=0.0.4; charset=utf-8"), NUL-terminated, its length
 * in *ret_len (ret_len may be NULL). now_ms (unix ms) gives the uptime.
 * Returns new memory, which the caller frees with free(); NULL only when m
 * is NULL. Holds the lock only while copying the numbers.
 */
char *sk_metrics_render(sk_metrics_t *m, int64_t now_ms, size_t *ret_len);

/* The Content-Type the rendered text goes with. */
#define SK_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
