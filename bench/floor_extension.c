#define _GNU_SOURCE
/* The floor for bench/coldstart.sh: the least an external Lambda extension can
 * do before its first /event/next — register and ask for the next event, with
 * blocking sockets and nothing else. Not part of the product. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_api(const char *api) {
  char host[64];
  const char *colon = strrchr(api, ':');
  if (!colon || colon - api >= (long)sizeof host) return -1;
  memcpy(host, api, colon - api);
  host[colon - api] = 0;
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(atoi(colon + 1));
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return -1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) return -1;
  return fd;
}

/* Reads one response (headers + Content-Length body) into buf. */
static int read_response(int fd, char *buf, int cap) {
  int n = 0;
  for (;;) {
    int r = read(fd, buf + n, cap - 1 - n);
    if (r <= 0) return -1;
    n += r;
    buf[n] = 0;
    char *end = strstr(buf, "\r\n\r\n");
    if (!end) continue;
    char *cl = strcasestr(buf, "content-length:");
    int want = cl ? atoi(cl + 15) : 0;
    if (n - (end + 4 - buf) >= want) return n;
  }
}

int main(int argc, char **argv) {
  (void)argc;
  const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
  const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  int fd = connect_api(api ? api : "");
  if (fd < 0) return 1;
  char req[512], buf[8192];
  const char *body = "{\"events\":[\"INVOKE\",\"SHUTDOWN\"]}";
  int n = snprintf(req, sizeof req,
                   "POST /2020-01-01/extension/register HTTP/1.1\r\nHost: %s\r\nLambda-Extension-Name: %s\r\n"
                   "Content-Length: %zu\r\n\r\n%s", api, name, strlen(body), body);
  if (write(fd, req, n) != n || read_response(fd, buf, sizeof buf) < 0) return 1;
  char *id = strcasestr(buf, "lambda-extension-identifier:");
  if (!id) return 1;
  id += 28;
  while (*id == ' ') id++;
  char ident[128];
  int i = 0;
  while (id[i] && id[i] != '\r' && i < 127) { ident[i] = id[i]; i++; }
  ident[i] = 0;
  for (;;) {
    n = snprintf(req, sizeof req, "GET /2020-01-01/extension/event/next HTTP/1.1\r\nHost: %s\r\n"
                 "Lambda-Extension-Identifier: %s\r\n\r\n", api, ident);
    if (write(fd, req, n) != n || read_response(fd, buf, sizeof buf) < 0) return 1;
    if (strstr(buf, "SHUTDOWN")) return 0;
  }
}
