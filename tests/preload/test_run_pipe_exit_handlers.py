"""Output that an exit handler writes into a pipe after the library's own
exit handler ran is announced (src/preload/exit_handlers.c).

exit() runs the handlers in the reverse of their registration. The
library registers its handler in its constructor, which runs after the
constructors of the libraries the program links to: a handler one of
those registers with on_exit() (or __cxa_atexit() with no DSO) runs after
the library's, which announced the writers of pipes then. An output call
that is wrapped (printf, putc, their wide forms, perror...: stdio_write.c,
stdio_wide.c, stdio_messages.c) announces its writer itself, then as
ever, and so does the inline putc_unlocked, whose first character on a
stream goes through the wrapped __overflow. One that is not -- putpwent
(libc's own fprintf), herror -- left its bytes in stdout's buffer
until libc's last flush, after every handler: they reached the reader
from a writer never announced."""

import pytest

from preload_support import Run, compile_c

# libearly.so: its constructor registers an exit handler, which prints a
# line through HOW: putpwent (no wrapper sees it), printf or
# putc_unlocked.
EARLY = r"""
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void late(int status, void *arg) {
  (void)status;
  (void)arg;
  const char *how = getenv("HOW");
  if (how != NULL && strcmp(how, "printf") == 0) {
    printf("%c%c", 'l', '\n');
  } else if (how != NULL && strcmp(how, "putc_unlocked") == 0) {
    putc_unlocked('l', stdout);
    putc_unlocked('\n', stdout);
  } else {
    struct passwd pw = {.pw_name = "l", .pw_passwd = "x", .pw_uid = 1,
                        .pw_gid = 2, .pw_gecos = "", .pw_dir = "/",
                        .pw_shell = "/bin/sh"};
    putpwent(&pw, stdout);
  }
}

__attribute__((constructor)) static void early(void) {
  on_exit(late, NULL);
}
"""

# The program prints nothing itself.
MAIN = r"""
int main(void) {
  return 0;
}
"""

PRINTED = {"putpwent": "l:x:1:2::/:/bin/sh\n", "printf": "l\n",
           "putc_unlocked": "l\n"}


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def build(r):
    compile_c(r.dir, "libearly.so", EARLY, ("-O2", "-shared", "-fPIC"))
    return compile_c(r.dir, "late_writer", MAIN,
                     ("-O2", "-Wl,--no-as-needed", "-L" + str(r.dir),
                      "-learly", "-Wl,-rpath," + str(r.dir)))


@pytest.mark.parametrize("how", sorted(PRINTED))
def test_output_of_an_exit_handler_run_after_the_librarys_is_announced(
        r, how):
    exe = build(r)
    p = r.run("sh", "-c", "HOW=%s %s | cat" % (how, exe))
    assert p.returncode == 0, p.stderr
    assert p.stdout == PRINTED[how]
    assert r.deps() == {("cat", "late_writer")}
