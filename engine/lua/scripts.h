/*
 * scripts.h: the registry of domain scripts, shared by every loop thread.
 *
 * A snapshot is an immutable, refcounted list of every script under the domains root with its last
 * good source, content hash and last error. A rescan reads the tree, validates what changed in a
 * loader runtime off to the side, and publishes a new snapshot: a file that fails keeps its previous
 * good version and carries the error. Threads pick the newest snapshot up when the generation moves;
 * nothing is reloaded under a running task.
 */
#ifndef AG_SCRIPTS_H
#define AG_SCRIPTS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>

#include "../common.h"

typedef struct ag_script_s {
    char *path;              /* as opened: <root>/<domain>/<kind>/<name>.lua */
    char *domain, *kind, *name; /* kind: "agents", "tasks", "tools", "handoffs", or "config" */
    char *source;            /* last good source, NULL when it never loaded */
    size_t len;
    char hash[17];           /* of source */
    char *error;             /* the newest version's error, NULL when it is good */
    int error_line;
    char *bad_hash;          /* hash of the file content that failed, to not re-validate it */
    int64_t loaded_at;
} ag_script_t;

typedef struct ag_snapshot_s {
    atomic_int refs;
    uint64_t generation;
    ag_script_t *items;
    size_t n;
} ag_snapshot_t;

typedef struct ag_scripts_s ag_scripts_t;

/* Is s (n bytes) a usable domain or script name: 1 to 100 of [A-Za-z0-9_-]? */
int ag_script_name_valid(const char *s, size_t n);

/* Scans root once (errors are recorded per file, not returned); fails only when root is unreadable. */
int ag_scripts_new(ag_scripts_t **out, const char *root, ag_err_t *err);
void ag_scripts_free(ag_scripts_t *s);
const char *ag_scripts_root(const ag_scripts_t *s);

/* Re-reads the tree; *changed = 1 when a new snapshot was published. Thread-safe. */
int ag_scripts_rescan(ag_scripts_t *s, int *changed, ag_err_t *err);

uint64_t ag_scripts_generation(ag_scripts_t *s);
/* Returns a new reference to the newest snapshot. */
ag_snapshot_t *ag_scripts_acquire(ag_scripts_t *s);
void ag_snapshot_release(ag_snapshot_t *snap);

/* The good script domain/kind/name in snap, or NULL. */
const ag_script_t *ag_snapshot_find(const ag_snapshot_t *snap, const char *domain, const char *kind,
                                    const char *name);
/* Counts of good scripts and of scripts with errors. */
void ag_snapshot_counts(const ag_snapshot_t *snap, size_t *good, size_t *bad);

/* Validates one file or a whole tree for `agency check`: prints "path:line: message" for every bad
 * script to out and returns the number of bad scripts (or a negative code when path is unreadable). */
int ag_scripts_check(const char *path, FILE *out, ag_err_t *err);

#endif
