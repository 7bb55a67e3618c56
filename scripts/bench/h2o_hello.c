/*
 * h2o_hello.c: the bare h2o (libuv) server the HTTP benchmark compares the engine with: one loop
 * per thread sharing one listening socket (as the engine does), every request answered with a
 * fixed small JSON body. Usage: h2o_hello PORT THREADS
 */
#define H2O_USE_LIBUV 1
#include <h2o.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static h2o_globalconf_t config;
static int listen_fd;

typedef struct worker_s {
    uv_loop_t loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    pthread_t thread;
} worker_t;

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    static const char body[] = "{\"status\":\"ok\"}";
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    req->res.content_length = sizeof(body) - 1;
    h2o_send_inline(req, body, sizeof(body) - 1);
    return 0;
}

static void on_accept(uv_stream_t *listener, int status)
{
    if (status != 0)
        return;
    worker_t *w = listener->data;
    uv_tcp_t *conn = malloc(sizeof(*conn));
    uv_tcp_init(listener->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    h2o_accept(&w->accept_ctx, h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free));
}

static void *run(void *arg)
{
    worker_t *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    return NULL;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 8081, nthreads = argc > 2 ? atoi(argv[2]) : 2;
    h2o_config_init(&config);
    h2o_hostconf_t *host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    h2o_create_handler(pc, sizeof(h2o_handler_t))->on_req = on_req;

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int on = 1;
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(listen_fd, 4096) != 0) {
        perror("listen");
        return 1;
    }
    worker_t *ws = calloc((size_t)nthreads, sizeof(*ws));
    for (int i = 0; i < nthreads; i++) {
        worker_t *w = &ws[i];
        uv_loop_init(&w->loop);
        h2o_context_init(&w->ctx, &w->loop, &config);
        w->accept_ctx.ctx = &w->ctx;
        w->accept_ctx.hosts = config.hosts;
        uv_tcp_init(&w->loop, &w->listener);
        uv_tcp_open(&w->listener, i == 0 ? listen_fd : dup(listen_fd));
        w->listener.data = w;
        uv_listen((uv_stream_t *)&w->listener, 4096, on_accept);
    }
    for (int i = 1; i < nthreads; i++)
        pthread_create(&ws[i].thread, NULL, run, &ws[i]);
    run(&ws[0]);
    return 0;
}
