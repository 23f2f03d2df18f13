/*
 * helper.c -- small programs that do one thing with files or processes,
 * run under `mida run` by tests/preload/test_preload.py, which then checks
 * the exact lineage the store holds. One binary, one mode per test:
 *
 *   threads DIR         8 threads, each writes DIR/t<i>.txt
 *   fork DIR            forks; the child writes DIR/child.txt and exits
 *                       without exec; the parent reads it after waiting
 *   spawn DIR           posix_spawn "cat DIR/in" with stdout to DIR/out
 *   vfork DIR           vfork children as a shell makes them: one execs sh
 *                       with its stdout and descriptor 3 redirected, one
 *                       _exits without an exec, one's exec fails
 *   failexec DIR        execv of a missing program fails; then writes
 *                       DIR/after.txt
 *   rename DIR          writes DIR/.final.tmp, renames it to DIR/final
 *   dup2 DIR            opens DIR/log, dup2 onto stdout, prints, closes
 *   killme DIR          writes DIR/done.txt, starts DIR/partial.txt, then
 *                       writes its pid into DIR/ready and sleeps until
 *                       killed
 *   errno DIR           checks errno after failing calls through the
 *                       wrappers; exit 0 if it is always the real one
 *   mmap DIR            maps DIR/in readable and DIR/mapped shared writable
 *   stdio DIR           fopen/fprintf/fgets/fclose of DIR/s1 and DIR/s2
 *   dprintf DIR         dprintf()s a line to stdout and one into DIR/d.txt
 *                       (opened with open), which libc writes unseen
 *   signals DIR         a timer's signal handler writes DIR/sig.txt
 *                       (open, write, close) while the program opens,
 *                       reads and closes DIR/in in a loop
 *   statftruncate DIR  ftruncate()s DIR/e through a writer opened with
 *                       O_TRUNC while reading it through a descriptor
 *                       it fstat()ed
 *   statunseen DIR     changes DIR/g and DIR/h, read through descriptors
 *                       it fstat()ed, by opens the library cannot follow
 *                       (O_RDONLY|O_TRUNC; a writer with the table full)
 *   statrace DIR       fstat()s of files only read, with fstat_hook.c
 *                       preloaded after the library
 *   forkthreads DIR     4 threads open and close files in a loop while
 *                       the main thread forks 20 children, each writing
 *                       DIR/c<i>.txt
 *
 * Built also as a static binary (helper_static) for the test of programs
 * the library cannot enter.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <utime.h>
#include <unistd.h>

extern char **environ;

static const char *dir;

static char *path_of(const char *name) {
  static __thread char buf[8][4096];
  static __thread int k;
  char *p = buf[k++ % 8];
  snprintf(p, 4096, "%s/%s", dir, name);
  return p;
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Each thread writes its own file in 20 pieces, all threads at once. */
static void *thread_main(void *arg) {
  long i = (long)arg;
  char name[32], text[64];
  snprintf(name, sizeof name, "t%ld.txt", i);
  snprintf(text, sizeof text, "thread %ld\n", i);
  int fd = open(path_of(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return (void *)1;
  for (int k = 0; k < 20; k++)
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
      return (void *)1;
  close(fd);
  return NULL;
}

static int mode_threads(void) {
  pthread_t t[8];
  for (long i = 0; i < 8; i++)
    pthread_create(&t[i], NULL, thread_main, (void *)i);
  int bad = 0;
  for (int i = 0; i < 8; i++) {
    void *r;
    pthread_join(t[i], &r);
    bad |= r != NULL;
  }
  return bad;
}

static int mode_fork(void) {
  pid_t pid = fork();
  if (pid == 0) {
    write_file(path_of("child.txt"), "from the child\n");
    exit(0);
  }
  int st;
  waitpid(pid, &st, 0);
  char buf[64];
  int fd = open(path_of("child.txt"), O_RDONLY);
  ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
  if (fd >= 0)
    close(fd);
  return n > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* Three children made by vfork, as a shell makes them: the first opens
 * DIR/out as its stdout and DIR/log3 as descriptor 3 before it execs
 * `sh -c 'cat DIR/in; echo three >&3'`; the second _exits with 3 without
 * an exec; the third's exec fails (a missing program) and it _exits with
 * 127. The children call nothing but system calls and the exec (the
 * paths are made before). Then the parent writes DIR/after.txt: its own
 * state went on as it was. */
static int mode_vfork(void) {
  char out[4096], log3[4096], script[4200];
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(log3, sizeof log3, "%s/log3", dir);
  snprintf(script, sizeof script, "cat '%s/in'; echo three >&3", dir);
  char *shell[] = {"sh", "-c", script, NULL};
  char *missing[] = {"/nonexistent/program", NULL};
  pid_t a = vfork();
  if (a == 0) {
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int l = open(log3, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || l < 0 || dup2(o, 1) < 0 || dup2(l, 3) < 0)
      _exit(90);
    if (l != 3)
      close(l);
    execvp("sh", shell);
    _exit(127);
  }
  pid_t b = vfork();
  if (b == 0)
    _exit(3);
  pid_t c = vfork();
  if (c == 0) {
    execv(missing[0], missing);
    _exit(127);
  }
  if (a < 0 || b < 0 || c < 0)
    return 1;
  int sa, sb, sc;
  waitpid(a, &sa, 0);
  waitpid(b, &sb, 0);
  waitpid(c, &sc, 0);
  if (write_file(path_of("after.txt"), "after\n") != 0)
    return 1;
  return WIFEXITED(sa) && WEXITSTATUS(sa) == 0 && WIFEXITED(sb) &&
                 WEXITSTATUS(sb) == 3 && WIFEXITED(sc) && WEXITSTATUS(sc) == 127
             ? 0
             : 1;
}

static int mode_spawn(void) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, path_of("out"),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  char *argv[] = {"cat", path_of("in"), NULL};
  pid_t pid;
  int rc = posix_spawnp(&pid, "cat", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return 1;
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

static int mode_failexec(void) {
  char *argv[] = {"no-such-program", NULL};
  execv("/nonexistent/no-such-program", argv);
  if (errno != ENOENT)
    return 1;
  return write_file(path_of("after.txt"), "still me\n") == 0 ? 0 : 1;
}

/* Files this process looks at (fstat) while it reads them, then changes
 * itself before it closes them: through another descriptor (a, d) or by
 * name (b). What the reader used is the file as it is at its close. */
static int mode_statchange(void) {
  char buf[16];
  struct stat st;
  if (write_file(path_of("a"), "hello") != 0 ||
      write_file(path_of("b"), "hello") != 0 ||
      write_file(path_of("d"), "hello") != 0)
    return 1;
  int ra = open(path_of("a"), O_RDONLY);
  if (ra < 0 || fstat(ra, &st) != 0 || read(ra, buf, 5) != 5)
    return 1;
  int wa = open(path_of("a"), O_WRONLY | O_APPEND);
  if (wa < 0 || write(wa, "world", 5) != 5)
    return 1;
  close(wa);
  close(ra);
  int rb = open(path_of("b"), O_RDONLY);
  if (rb < 0 || fstat(rb, &st) != 0 || read(rb, buf, 5) != 5 ||
      truncate(path_of("b"), 2) != 0)
    return 1;
  close(rb);
  int wd = open(path_of("d"), O_WRONLY | O_APPEND);
  int rd = open(path_of("d"), O_RDONLY);
  if (wd < 0 || rd < 0 || fstat(rd, &st) != 0 || read(rd, buf, 5) != 5 ||
      write(wd, "!", 1) != 1)
    return 1;
  close(rd);
  close(wd);
  return 0;
}

/* A file truncated with ftruncate() through a writer that was opened with
 * O_TRUNC (already marked truncated) while this process also reads it
 * through a descriptor it looked at with fstat: what the reader used is
 * the file at its close, 2 bytes, not the 5 of the fstat. */
static int mode_statftruncate(void) {
  char buf[16];
  struct stat st;
  int we = open(path_of("e"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (we < 0 || write(we, "hello", 5) != 5)
    return 1;
  int re = open(path_of("e"), O_RDONLY);
  if (re < 0 || fstat(re, &st) != 0 || read(re, buf, 5) != 5 ||
      ftruncate(we, 2) != 0)
    return 1;
  close(re);
  close(we);
  return 0;
}

/* Files changed, while this process reads them through a descriptor it
 * looked at with fstat, by opens the library cannot follow: g truncated by
 * an open for reading only (Linux truncates), h appended to through a
 * writer opened while the file table is full (filled by 1,100 opens of
 * "filler"). What the readers used is each file at their close: g 0
 * bytes, h 10. */
static int mode_statunseen(void) {
  char buf[16];
  struct stat st;
  if (write_file(path_of("g"), "hello") != 0 ||
      write_file(path_of("h"), "hello") != 0 ||
      write_file(path_of("filler"), "x") != 0)
    return 1;
  int rg = open(path_of("g"), O_RDONLY);
  if (rg < 0 || fstat(rg, &st) != 0 || read(rg, buf, 5) != 5)
    return 1;
  int tg = open(path_of("g"), O_RDONLY | O_TRUNC);
  if (tg < 0)
    return 1;
  close(rg);
  close(tg);
  enum { FILLERS = 1100 };
  static int fill[FILLERS];
  /* Room for the fillers: the soft limit is often 1,024. Exit 4: none. */
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return 1;
  if (lim.rlim_cur < FILLERS + 64) {
    if (lim.rlim_max < FILLERS + 64)
      return 4;
    lim.rlim_cur = FILLERS + 64;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
      return 4;
  }
  int rh = open(path_of("h"), O_RDONLY);
  for (int i = 0; i < FILLERS; i++)
    if ((fill[i] = open(path_of("filler"), O_RDONLY)) < 0)
      return 1;
  if (rh < 0 || fstat(rh, &st) != 0 || read(rh, buf, 5) != 5)
    return 1;
  int wh = open(path_of("h"), O_WRONLY | O_APPEND);
  if (wh < 0 || write(wh, "world", 5) != 5)
    return 1;
  close(rh);
  close(wh);
  for (int i = 0; i < FILLERS; i++)
    close(fill[i]);
  return 0;
}

/* The preload library keeps a program's fstat of a file only read; what
 * happens between the C library's answer and its keeping must not make it
 * stand for the file at close (fstat_hook.c does it, preloaded after the
 * library): F appended to through a writer (used: 10 bytes), X closed and
 * Y opened on its descriptor (used: Y as Y, 2 bytes). Exit 3: the hook is
 * not loaded, or the descriptor number was not reused. */
struct mida_test_fstat_hook {
  int action;
  int fd;
  const char *path;
  int reopened;
};

static int mode_statrace(void) {
  struct mida_test_fstat_hook *h = dlsym(RTLD_DEFAULT, "mida_test_fstat_hook");
  if (h == NULL)
    return 3;
  char buf[16];
  struct stat st;
  if (write_file(path_of("F"), "hello") != 0 ||
      write_file(path_of("X"), "xxxxxxxx") != 0 ||
      write_file(path_of("Y"), "yy") != 0)
    return 1;
  int wf = open(path_of("F"), O_WRONLY | O_APPEND);
  int rf = open(path_of("F"), O_RDONLY);
  if (wf < 0 || rf < 0)
    return 1;
  *h = (struct mida_test_fstat_hook){1, wf, NULL, -1};
  if (fstat(rf, &st) != 0 || read(rf, buf, 5) != 5)
    return 1;
  close(rf);
  close(wf);
  int rx = open(path_of("X"), O_RDONLY);
  if (rx < 0)
    return 1;
  *h = (struct mida_test_fstat_hook){2, -1, path_of("Y"), -1};
  if (fstat(rx, &st) != 0)
    return 1;
  if (h->reopened != rx)
    return 3;
  if (read(rx, buf, 2) != 2)
    return 1;
  close(rx);
  return 0;
}

static int mode_rename(void) {
  if (write_file(path_of(".final.tmp"), "complete\n") != 0)
    return 1;
  return rename(path_of(".final.tmp"), path_of("final")) == 0 ? 0 : 1;
}

static int mode_dup2(void) {
  int fd = open(path_of("log"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || dup2(fd, 1) != 1)
    return 1;
  close(fd);
  printf("to the log through stdout\n");
  fflush(stdout);
  return 0;
}

static int mode_killme(void) {
  if (write_file(path_of("done.txt"), "finished before the kill\n") != 0)
    return 1;
  int fd = open(path_of("partial.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, "half", 4) != 4)
    return 1;
  char pid[32];
  snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (write_file(path_of("ready.tmp"), pid) != 0 ||
      rename(path_of("ready.tmp"), path_of("ready")) != 0)
    return 1;
  for (;;)
    pause();
}

/* errno after a failing call equals what the call itself set. */
static int mode_errno(void) {
  int bad = 0;
#define EXPECT(call, want)                                                   \
  do {                                                                       \
    errno = 12345;                                                           \
    long r_ = (long)(call);                                                  \
    if (r_ != -1 || errno != (want)) {                                       \
      fprintf(stderr, "%s: r=%ld errno=%d, want %d\n", #call, r_, errno,     \
              want);                                                         \
      bad = 1;                                                               \
    }                                                                        \
  } while (0)
  /* Under the test's own directory, which has no "missing": a path like
   * /nonexistent may exist on a shared machine. */
  const char *x = path_of("missing/x");
  const char *a = path_of("missing/a");
  const char *b = path_of("missing/b");
  const char *missing = path_of("missing");
  EXPECT(open(x, O_RDONLY), ENOENT);
  EXPECT(openat(AT_FDCWD, x, O_RDONLY), ENOENT);
  EXPECT(creat(x, 0644), ENOENT);
  EXPECT(close(-1), EBADF);
  EXPECT(close(987), EBADF);
  char byte;
  EXPECT(read(-1, &byte, 1), EBADF);
  EXPECT(write(-1, "x", 1), EBADF);
  EXPECT(pread(-1, &byte, 1, 0), EBADF);
  EXPECT(dup(-1), EBADF);
  EXPECT(dup2(-1, 5), EBADF);
  EXPECT(fcntl(-1, F_GETFD), EBADF);
  EXPECT(rename(a, b), ENOENT);
  EXPECT(link(a, b), ENOENT);
  EXPECT(linkat(AT_FDCWD, a, AT_FDCWD, b, 0), ENOENT);
  EXPECT(unlink(a), ENOENT);
  EXPECT(truncate(a, 0), ENOENT);
  EXPECT(ftruncate(-1, 0), EBADF);
  EXPECT(utimensat(AT_FDCWD, a, NULL, 0), ENOENT);
  EXPECT(utimes(a, NULL), ENOENT);
  EXPECT(utime(a, NULL), ENOENT);
  EXPECT(futimens(-1, NULL), EBADF);
  EXPECT(futimes(-1, NULL), EBADF);
  EXPECT(chdir(missing), ENOENT);
  EXPECT(execv(a, (char *[]){"p", NULL}), ENOENT);
  EXPECT((long)mmap(NULL, 4096, PROT_READ, MAP_SHARED, -1, 0), EBADF);
  errno = 12345;
  if (fopen(x, "r") != NULL || errno != ENOENT) {
    fprintf(stderr, "fopen: errno=%d\n", errno);
    bad = 1;
  }
  /* A successful call leaves errno as it was. */
  errno = 4242;
  int fd = open(path_of("ok.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, "x", 1) != 1 || futimens(fd, NULL) != 0 ||
      close(fd) != 0 || utimes(path_of("ok.txt"), NULL) != 0 ||
      link(path_of("ok.txt"), path_of("ok2.txt")) != 0 ||
      rename(path_of("ok2.txt"), path_of("ok.txt")) != 0 || errno != 4242) {
    fprintf(stderr, "success changed errno to %d\n", errno);
    bad = 1;
  }
  return bad;
}

static int mode_mmap(void) {
  int in = open(path_of("in"), O_RDONLY);
  int out = open(path_of("mapped"), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (in < 0 || out < 0 || ftruncate(out, 4096) != 0)
    return 1;
  char *r = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, in, 0);
  char *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, out, 0);
  if (r == MAP_FAILED || w == MAP_FAILED)
    return 1;
  memcpy(w, r, 16);
  munmap(r, 4096);
  munmap(w, 4096);
  close(in);
  close(out);
  return 0;
}

static int mode_stdio(void) {
  FILE *f = fopen(path_of("s1"), "w");
  if (f == NULL)
    return 1;
  for (int i = 0; i < 100; i++)
    fprintf(f, "line %d\n", i);
  fclose(f);
  f = fopen(path_of("s1"), "r");
  FILE *g = fopen(path_of("s2"), "w");
  char line[64];
  while (f != NULL && g != NULL && fgets(line, sizeof line, f) != NULL)
    fputs(line, g);
  if (f == NULL || g == NULL)
    return 1;
  fclose(f);
  fclose(g);
  return 0;
}

static int mode_dprintf(void) {
  if (dprintf(1, "to stdout\n") != 10)
    return 1;
  int fd = open(path_of("d.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || dprintf(fd, "%s %d\n", "dprintf", 42) != 11)
    return 1;
  return close(fd) != 0;
}

static volatile sig_atomic_t handled;

static void on_alarm(int sig) {
  (void)sig;
  int saved = errno;
  int fd = open(path_of("sig.txt"), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    if (write(fd, "s", 1) != 1)
      handled = -1000000;
    close(fd);
  }
  handled++;
  errno = saved;
}

static int mode_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 200}, {0, 200}};
  setitimer(ITIMER_REAL, &it, NULL);
  char buf[64];
  int bad = 0;
  for (int i = 0; i < 20000 || handled < 20; i++) {
    int fd = open(path_of("in"), O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf) <= 0)
      bad = 1;
    errno = 777;
    if (close(fd) != 0 || errno != 777)
      bad = 1;
    if (i > 2000000)
      break;
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  return bad || handled < 20;
}

static volatile int stop_threads;

static void *busy_files(void *arg) {
  long i = (long)arg;
  char name[32];
  snprintf(name, sizeof name, "busy%ld", i);
  while (!stop_threads) {
    int fd = open(path_of(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      if (write(fd, "b", 1) != 1)
        return (void *)1;
      close(fd);
    }
  }
  return NULL;
}

static int mode_forkthreads(void) {
  pthread_t t[4];
  for (long i = 0; i < 4; i++)
    pthread_create(&t[i], NULL, busy_files, (void *)i);
  int bad = 0;
  for (int c = 0; c < 20; c++) {
    pid_t pid = fork();
    if (pid == 0) {
      char name[32];
      snprintf(name, sizeof name, "c%d.txt", c);
      _exit(write_file(path_of(name), "child\n") == 0 ? 0 : 1);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0)
      bad = 1;
  }
  stop_threads = 1;
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  return bad;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: helper MODE DIR\n");
    return 2;
  }
  dir = argv[2];
  const char *m = argv[1];
  if (strcmp(m, "threads") == 0)
    return mode_threads();
  if (strcmp(m, "fork") == 0)
    return mode_fork();
  if (strcmp(m, "spawn") == 0)
    return mode_spawn();
  if (strcmp(m, "vfork") == 0)
    return mode_vfork();
  if (strcmp(m, "failexec") == 0)
    return mode_failexec();
  if (strcmp(m, "rename") == 0)
    return mode_rename();
  if (strcmp(m, "statchange") == 0)
    return mode_statchange();
  if (strcmp(m, "statftruncate") == 0)
    return mode_statftruncate();
  if (strcmp(m, "statunseen") == 0)
    return mode_statunseen();
  if (strcmp(m, "statrace") == 0)
    return mode_statrace();
  if (strcmp(m, "dup2") == 0)
    return mode_dup2();
  if (strcmp(m, "killme") == 0)
    return mode_killme();
  if (strcmp(m, "errno") == 0)
    return mode_errno();
  if (strcmp(m, "mmap") == 0)
    return mode_mmap();
  if (strcmp(m, "stdio") == 0)
    return mode_stdio();
  if (strcmp(m, "dprintf") == 0)
    return mode_dprintf();
  if (strcmp(m, "signals") == 0)
    return mode_signals();
  if (strcmp(m, "forkthreads") == 0)
    return mode_forkthreads();
  fprintf(stderr, "helper: unknown mode %s\n", m);
  return 2;
}
