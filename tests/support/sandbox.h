/*
 * sandbox: what systemd sets up around a service (and what a test needs
 * to watch a daemon's system log), done in a child process between
 * fork() and exec(): a private mount namespace, parts of the file system
 * made read-only or replaced, a socket bound at a path only that
 * namespace sees.  Every function is for that child: on failure it
 * prints why and _exit()s with SANDBOX_FAILED.
 */
#ifndef SOFTPR_TEST_SANDBOX_H
#define SOFTPR_TEST_SANDBOX_H

#include <stdbool.h>

#include <glib.h>

/* The exit status of a child whose sandbox could not be set up. */
#define SANDBOX_FAILED 126

/*
 * Whether this kernel lets the tests make mount namespaces and overlay
 * mounts (root in a container may not); tests skip otherwise.
 */
bool sandbox_available(void);

/* A private mount namespace whose mounts do not propagate back. */
void sandbox_enter(void);

/* An empty tmpfs (mode @mode) at @target. */
void sandbox_tmpfs(const char *target, unsigned mode);

/* @source's tree at @target, read-only when @readonly. */
void sandbox_bind(const char *source, const char *target, bool readonly);

/*
 * A writable copy-on-write view of directory @target (an overlay whose
 * upper layer is a tmpfs mounted at @scratch, an existing directory):
 * files can be added there without touching the real @target.
 */
void sandbox_overlay(const char *target, const char *scratch);

/*
 * ProtectSystem=strict: every mount read-only, except /dev, /proc, /sys
 * (kernel interfaces) and the paths in @writable (NULL-terminated),
 * which stay writable.
 */
void sandbox_protect_system(const char *const *writable);

/* Bind the inherited Unix socket @fd at @path (in this namespace). */
void sandbox_bind_socket(int fd, const char *path);

#endif /* SOFTPR_TEST_SANDBOX_H */
