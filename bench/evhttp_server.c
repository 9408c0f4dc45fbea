/*
 * evhttp_server.c - the candidate replacement measured by bench/http_libs.py:
 * libevent's evhttp (Debian 12's libevent 2.1.12) serving the same bytes
 * vizfeed serves, one event loop per CPU on a shared SO_REUSEPORT port.
 * Only what the comparison needs: /vizceral.json (gzip when asked) and
 * /healthz; not part of vizfeed.
 *
 *   cc -O2 bench/evhttp_server.c -o evhttp_server -levent -levent_pthreads -lpthread
 *   ./evhttp_server PORT THREADS graph.json graph.json.gz
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char *plain, *gz;
static size_t plain_len, gz_len;
static int port;

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) exit(2);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    char *p = malloc(*len);
    if (fread(p, 1, *len, f) != *len) exit(2);
    fclose(f);
    return p;
}

static void on_request(struct evhttp_request *r, void *arg) {
    (void)arg;
    const char *uri = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(r));
    if (!uri) uri = "";
    struct evkeyvalq *out = evhttp_request_get_output_headers(r);
    struct evbuffer *body = evbuffer_new();
    if (strcmp(uri, "/vizceral.json") == 0) {
        const char *ae = evhttp_find_header(evhttp_request_get_input_headers(r), "Accept-Encoding");
        int z = ae && strstr(ae, "gzip");
        evhttp_add_header(out, "Content-Type", "application/json");
        if (z) evhttp_add_header(out, "Content-Encoding", "gzip");
        evbuffer_add_reference(body, z ? gz : plain, z ? gz_len : plain_len, NULL, NULL);
        evhttp_send_reply(r, 200, "OK", body);
    } else if (strcmp(uri, "/healthz") == 0) {
        evhttp_add_header(out, "Content-Type", "application/json");
        evbuffer_add(body, "{\"status\":\"ok\"}\n", 16);
        evhttp_send_reply(r, 200, "OK", body);
    } else {
        evhttp_send_reply(r, 404, "Not Found", body);
    }
    evbuffer_free(body);
}

static void *serve(void *arg) {
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1024) < 0) exit(3);
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_max_headers_size(http, 32 << 10);
    evhttp_set_max_body_size(http, 0);
    evhttp_set_timeout(http, 30);
    evhttp_set_gencb(http, on_request, NULL);
    evhttp_accept_socket(http, fd);
    event_base_dispatch(base);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) return 2;
    port = atoi(argv[1]);
    int threads = atoi(argv[2]);
    plain = slurp(argv[3], &plain_len);
    gz = slurp(argv[4], &gz_len);
    pthread_t t[16];
    for (int i = 0; i < threads && i < 16; i++) pthread_create(&t[i], NULL, serve, NULL);
    printf("port %d\n", port);
    fflush(stdout);
    pause();
    return 0;
}
