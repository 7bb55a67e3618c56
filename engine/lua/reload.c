/*
 * reload.c: hot reload. inotify watches the domains root and every directory under it (inotify is not
 * recursive); any event starts a short debounce timer on worker 0's loop, after which the registry
 * rescans (scripts.c): changed files are validated aside and swapped in by content hash, broken ones
 * keep their old version and report their error. Loop threads pick the new snapshot up lazily.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../engine.h"
#include "../events.h"
#include "../log.h"
#include "../metrics.h"

#define AG_LOG_MODULE "reload"
#define DEBOUNCE_MS 50

static void watch_tree(int fd, const char *dir, int depth)
{
    inotify_add_watch(fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB);
    if (depth >= 3)
        return;
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[2048];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            watch_tree(fd, p, depth + 1);
    }
    closedir(d);
}

static void on_debounce(uv_timer_t *t)
{
    ag_engine_t *eng = t->data;
    int changed = 0;
    ag_err_t err;
    /* New directories may have appeared: watching one twice is harmless. */
    watch_tree(eng->inotify_fd, ag_scripts_root(eng->scripts), 0);
    if (ag_scripts_rescan(eng->scripts, &changed, &err) != 0) {
        AG_LOG(AG_LOG_ERROR, "rescan failed error=%s", err.msg);
        return;
    }
    if (changed)
        ag_series_add(ag_series("agency_script_reloads_total", ""), 1);
    if (changed) {
        AG_LOG(AG_LOG_INFO, "scripts reloaded generation=%llu",
               (unsigned long long)ag_scripts_generation(eng->scripts));
        ag_snapshot_t *snap = ag_scripts_acquire(eng->scripts);
        ag_event_emit_scripts(eng->workers[0].store, snap); /* worker 0's loop: its store */
        ag_snapshot_release(snap);
    }
}

static void on_inotify(uv_poll_t *p, int status, int events)
{
    (void)events;
    ag_engine_t *eng = p->data;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(eng->inotify_fd, buf, sizeof(buf)) > 0) {
    }
    if (status < 0)
        return;
    uv_timer_start(&eng->workers[0].reload_debounce, on_debounce, DEBOUNCE_MS, 0);
}

int ag_reload_start(ag_engine_t *eng, ag_err_t *err)
{
    eng->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (eng->inotify_fd < 0)
        return ag_err_set(err, -errno, "inotify: %s", strerror(errno));
    watch_tree(eng->inotify_fd, ag_scripts_root(eng->scripts), 0);
    ag_worker_t *w0 = &eng->workers[0];
    uv_timer_init(&w0->loop, &w0->reload_debounce);
    w0->reload_debounce.data = eng;
    uv_poll_init(&w0->loop, &eng->inotify_poll, eng->inotify_fd);
    eng->inotify_poll.data = eng;
    uv_poll_start(&eng->inotify_poll, UV_READABLE, on_inotify);
    return 0;
}

/* Called after the loops stopped. */
void ag_reload_stop(ag_engine_t *eng)
{
    if (eng->inotify_fd >= 0)
        close(eng->inotify_fd);
    eng->inotify_fd = -1;
}
