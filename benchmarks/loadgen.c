/* The benchmark's load generator: `concurrency` threads, each sending GET requests one
 * after another on its own connection (a new one whenever the server closes it, as
 * gunicorn's sync workers do after each response), for `seconds`. A compiled client, so
 * the time the clients see is the server's, not a Python client's share of the 2 cores.
 *
 *   loadgen PORT TOKEN SECONDS CONCURRENCY PATH_PREFIX PAGES PAGE
 *
 * PAGES > 0: each request asks for PATH_PREFIX + "&offset=" + a random page * PAGE;
 * PAGES = 0: PATH_PREFIX as it is. Prints one line per response: the client's
 * milliseconds and the server's x-latency-ms. A status other than 200 exits 1. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port, pages, page;
static double seconds;
static const char *token, *prefix;

typedef struct { unsigned seed; size_t n, cap; double *mine, *theirs; } Worker;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int connect_to(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); exit(2); }
  return fd;
}

/* One request on a fresh connection; the body is read to the end (Content-Length or
 * the connection's close). Returns the server's x-latency-ms. */
static double one(Worker *w, char *buf, size_t size) {
  char request[2048];
  char path[1024];
  if (pages > 0)
    snprintf(path, sizeof path, "%s&offset=%d", prefix, (rand_r(&w->seed) % pages) * page);
  else
    snprintf(path, sizeof path, "%s", prefix);
  int len = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                     "Connection: close\r\n\r\n", path, token);
  int fd = connect_to();
  if (write(fd, request, len) != len) { perror("write"); exit(2); }
  size_t got = 0;
  ssize_t r;
  char *end = NULL;
  long length = -1;
  while ((r = read(fd, buf + got, size - got - 1)) > 0) {
    got += r;
    buf[got] = 0;
    if (!end && (end = strstr(buf, "\r\n\r\n"))) {
      char *cl = strcasestr(buf, "\r\ncontent-length:");
      if (cl && cl < end) length = atol(cl + 17);
    }
    if (end && length >= 0 && got >= (size_t)(end + 4 - buf) + length) break;
    if (got + 1 >= size) { fprintf(stderr, "response too long\n"); exit(2); }
  }
  close(fd);
  if (!end || strncmp(buf + 9, "200", 3) != 0) {
    fprintf(stderr, "bad response: %.200s\n", buf);
    exit(1);
  }
  char *lat = strcasestr(buf, "\r\nx-latency-ms:");
  return lat && lat < end ? atof(lat + 15) : -1;
}

static void *run(void *arg) {
  Worker *w = arg;
  size_t size = 4 << 20;
  char *buf = malloc(size);
  double deadline = now() + seconds;
  while (now() < deadline) {
    double start = now();
    double server = one(w, buf, size);
    if (w->n == w->cap) {
      w->cap = w->cap ? w->cap * 2 : 4096;
      w->mine = realloc(w->mine, w->cap * sizeof(double));
      w->theirs = realloc(w->theirs, w->cap * sizeof(double));
    }
    w->mine[w->n] = (now() - start) * 1000;
    w->theirs[w->n++] = server;
  }
  free(buf);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 8) { fprintf(stderr, "usage: see the source\n"); return 2; }
  port = atoi(argv[1]); token = argv[2]; seconds = atof(argv[3]);
  int concurrency = atoi(argv[4]);
  prefix = argv[5]; pages = atoi(argv[6]); page = atoi(argv[7]);
  pthread_t threads[256];
  Worker workers[256] = {0};
  if (concurrency < 1 || concurrency > 256) return 2;
  for (int i = 0; i < concurrency; i++) {
    workers[i].seed = 1000 + i;
    pthread_create(&threads[i], NULL, run, &workers[i]);
  }
  for (int i = 0; i < concurrency; i++) pthread_join(threads[i], NULL);
  for (int i = 0; i < concurrency; i++)
    for (size_t j = 0; j < workers[i].n; j++)
      printf("%.3f %.3f\n", workers[i].mine[j], workers[i].theirs[j]);
  return 0;
}
