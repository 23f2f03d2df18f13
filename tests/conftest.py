"""Shared by every test directory: the signals the tests send must reach
the programs they start.

A shell starts a background job (`.ci/run &`, `nohup make test &`) with
SIGINT ignored, and an ignored signal stays ignored across fork and exec:
every `mida` and Python child would then shrug off the SIGINT that the
Ctrl-C tests send, and those tests would fail for a reason that is the
launcher's, not the code's. A handler (unlike SIG_IGN) is reset to the
default at exec, so installing Python's own here gives each child the
default disposition, as it has when the suite runs in a terminal."""
import signal

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
