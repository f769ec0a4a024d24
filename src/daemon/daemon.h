/*
 * The daemon (`sked run`): wires the configuration, the fire heap, the
 * runner and the store onto one libuv loop. Everything here runs on the loop
 * thread.
 */
#ifndef SK_DAEMON_H
#define SK_DAEMON_H

#include "../common/common.h"

/*
 * Runs the daemon for the configuration at config_path until SIGTERM or
 * SIGINT. node_flag is `sked run --node NAME` (borrowed), or NULL: this
 * node's name comes from sk_node_name(node_flag, ...) (config.h). Returns
 * the process exit status: 0 after a clean stop, 1 when it cannot start (bad
 * configuration, another daemon holds the state folder, the store is
 * refused), with the reason printed on stderr.
 */
int sk_daemon_main(const char *config_path, const char *node_flag);

/* The control socket and lock file inside a state folder. */
#define SK_SOCKET_NAME "sked.sock"
#define SK_LOCK_NAME "sked.lock"

#endif
