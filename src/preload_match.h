/*
 * preload_match: which descriptors libsoftpr-preload.so answers for.
 *
 * SOFTPR_DEVICES is a ':'-separated list of shell globs (fnmatch(3) with
 * FNM_PATHNAME).  A descriptor matches when the canonical path it was
 * opened at, or for a loop device the path of the file behind it,
 * matches one of them; an entry without wildcards also matches the file
 * or device it names through symbolic links.  Nothing else is touched.
 */
#ifndef SOFTPR_PRELOAD_MATCH_H
#define SOFTPR_PRELOAD_MATCH_H

#include <stdbool.h>

/* The environment variable holding the globs. */
#define PRELOAD_DEVICES_ENV "SOFTPR_DEVICES"

typedef enum PreloadKind {
    PRELOAD_NONE,   /* not ours: every call goes to the C library */
    PRELOAD_FILE,   /* a regular file: every command answered here */
    PRELOAD_LOOP,   /* a loop device: every command answered here */
    PRELOAD_DEVICE, /* another block or character device: PR commands
                       go to softprd, the rest to the device */
} PreloadKind;

/* Whether @path matches an entry of the ':'-separated @patterns. */
bool preload_match_path(const char *patterns, const char *path);

/*
 * What @fd is to the library, given @patterns (NULL or empty: nothing
 * matches).  Leaves errno as it was.
 */
PreloadKind preload_match_fd(int fd, const char *patterns);

#endif /* SOFTPR_PRELOAD_MATCH_H */
