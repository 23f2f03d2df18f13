/*
 * serve_exit_test.c -- `mida serve` answers a request and stops cleanly
 * on SIGTERM, run as a user runs it (the real `mida` command). Under the
 * suite's AddressSanitizer build this is what sees the server's memory
 * errors: the Python tests of the server run the normal build. Until
 * 2026-12-07 every request's end read its state after freeing it
 * (src/serve/http.c, request_done), which only ASan told.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mida.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* GET path from 127.0.0.1:port; whether the answer's status is 200. */
static int get_ok(int port, const char *path) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    if (s >= 0)
      close(s);
    return 0;
  }
  char req[256];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                   "Connection: close\r\n\r\n",
                   path, port);
  char head[64] = "";
  if (write(s, req, (size_t)n) == n) {
    ssize_t got = read(s, head, sizeof head - 1);
    head[got > 0 ? got : 0] = '\0';
    char rest[4096];
    while (read(s, rest, sizeof rest) > 0) {
    }
  }
  close(s);
  return strncmp(head, "HTTP/1.1 200", 12) == 0;
}

static void test_serve_answers_and_stops_cleanly(void **state) {
  (void)state;
  const char *mida = getenv("MIDA_BIN");
  assert_non_null(mida);
  char dir[] = "/tmp/mida_serve_exit_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char store[128], spool[128];
  snprintf(store, sizeof store, "sqlite://%s/s.db", dir);
  snprintf(spool, sizeof spool, "%s/spool", dir);
  setenv("MIDA_SPOOL", spool, 1);
  setenv("MIDA_STORE", store, 1);
  mida_session_t *s;
  assert_int_equal(mida_open(NULL, &s, NULL, 0), MIDA_OK);
  mida_id_t wf, t;
  assert_int_equal(mida_workflow_begin(
                       s, &(mida_workflow_info_t){.name = "served"}, &wf),
                   MIDA_OK);
  assert_int_equal(
      mida_task_begin(s,
                      &(mida_task_info_t){.activity = "a", .workflow = &wf},
                      &t),
      MIDA_OK);
  assert_int_equal(mida_task_end(s, &t, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);

  int err[2];
  assert_int_equal(pipe(err), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(err[1], 2);
    close(err[0]);
    close(err[1]);
    execl(mida, mida, "--store", store, "serve", "--listen", "127.0.0.1:0",
          (char *)NULL);
    _exit(127);
  }
  assert_true(pid > 0);
  close(err[1]);
  /* "mida serve: http://127.0.0.1:PORT/ (read-only); Ctrl-C stops" */
  FILE *said = fdopen(err[0], "r");
  char line[512];
  int port = 0;
  while (port == 0 && fgets(line, sizeof line, said) != NULL) {
    const char *at = strstr(line, "http://127.0.0.1:");
    if (at != NULL)
      port = atoi(at + strlen("http://127.0.0.1:"));
  }
  if (port == 0) { /* a build without libmicrohttpd has no server */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fclose(said);
    skip();
  }
  for (int i = 0; i < 3; i++)
    assert_true(get_ok(port, "/api/health"));
  assert_true(get_ok(port, "/api/tasks"));
  assert_int_equal(kill(pid, SIGTERM), 0);
  while (fgets(line, sizeof line, said) != NULL)
    fputs(line, stderr); /* what the server said on its way out */
  fclose(said);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  char rm[160];
  snprintf(rm, sizeof rm, "rm -rf %s", dir);
  assert_int_equal(system(rm), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_serve_answers_and_stops_cleanly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
