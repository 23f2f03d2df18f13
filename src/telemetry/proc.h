/*
 * proc.h -- readers and parsers of the Linux /proc files that the telemetry
 * sampler reads (src/telemetry/sampler.c).
 *
 * Reading and parsing are separate. mida__proc_read() copies one file into
 * a caller's fixed buffer (no allocation; a file larger than the buffer is
 * cut and reported as MIDA_ETOOBIG, its head still parsed). Each parser
 * takes the text and its length -- never a NUL-terminated string, so the
 * fuzz target (fuzz/proc_fuzz.c) can hand it any bytes -- and fills a struct
 * of plain counters. A parser never reads past len, never allocates, and
 * saturates numbers that overflow; a field it cannot find keeps the value 0
 * and its bit in `found` stays clear, so the sampler writes only what it
 * read. A parser returns MIDA_OK when it found what makes the file
 * meaningful (e.g. the closing parenthesis of the command name in stat),
 * else MIDA_ECORRUPT.
 *
 * Paths are "<root>/<rel>": root is "/proc" in production; tests point it at
 * a directory of their own (unreadable files, a process that has gone).
 *
 * Thread safety: everything here is reentrant.
 */
#ifndef MIDA_OBSERVE_PROC_H
#define MIDA_OBSERVE_PROC_H

#include <stddef.h>
#include <stdint.h>

/* Reads the file root/rel into buf (cap bytes; a NUL is written after the
 * data, so at most cap - 1 bytes of data). *len receives the data's length.
 * Returns MIDA_OK; MIDA_ETOOBIG when the file was cut at cap - 1 bytes;
 * MIDA_EIO when it cannot be opened or read (permissions, a process that
 * has gone, a missing file); MIDA_EINVAL for a path that does not fit. */
int mida__proc_read(const char *root, const char *rel, char *buf, size_t cap,
                    size_t *len);

/* /proc/PID/stat: the process's state, parent, start, CPU time and
 * faults. */
typedef struct mida__proc_pstat {
  char state;           /* 'R', 'S', 'D', ...; 'Z' a zombie (it has exited
                           and not been reaped: no memory left), 'X' dead;
                           0 when not found */
  uint64_t ppid;        /* the parent's pid */
  uint64_t start_ticks; /* when it started, clock ticks since boot: with
                           the pid, names one process (pids are reused) */
  uint64_t utime_ticks; /* user CPU time, clock ticks (sysconf CLK_TCK) */
  uint64_t stime_ticks; /* system CPU time, clock ticks */
  uint64_t minflt;      /* minor page faults */
  uint64_t majflt;      /* major page faults */
  uint64_t threads;     /* number of threads */
  uint64_t vsize;       /* virtual memory size, bytes */
  uint64_t rss_pages;   /* resident set, pages */
} mida__proc_pstat;

int mida__proc_parse_pstat(const char *text, size_t len,
                           mida__proc_pstat *out);

/* /proc/PID/statm: sizes in pages. */
typedef struct mida__proc_statm {
  uint64_t size;     /* total program size, pages */
  uint64_t resident; /* resident, pages */
  uint64_t shared;   /* resident shared (file-backed), pages */
} mida__proc_statm;

int mida__proc_parse_statm(const char *text, size_t len,
                           mida__proc_statm *out);

/* A "Key: value [kB]" file (PID/io, PID/status, meminfo): the values of the
 * keys asked for. keys has n names (without the colon); values[i] receives
 * the number after keys[i] (kB stays kB); bit i of *found is set when
 * keys[i] was seen (n <= 64). Returns MIDA_OK if at least one key was
 * found, else MIDA_ECORRUPT. */
int mida__proc_parse_keyed(const char *text, size_t len,
                           const char *const *keys, int n, uint64_t *values,
                           uint64_t *found);

/* /proc/stat: the aggregate "cpu" line and a few counters. */
typedef struct mida__proc_sysstat {
  uint64_t user, nice, system, idle, iowait, irq, softirq, steal; /* ticks */
  uint64_t ncpu;          /* "cpuN" lines */
  uint64_t ctxt;          /* context switches since boot */
  uint64_t procs_running; /* runnable tasks now */
  uint64_t procs_blocked; /* tasks blocked on I/O now */
} mida__proc_sysstat;

int mida__proc_parse_sysstat(const char *text, size_t len,
                             mida__proc_sysstat *out);

/* /proc/loadavg. */
typedef struct mida__proc_loadavg {
  double load1, load5, load15; /* run-queue averages */
  uint64_t running;            /* runnable scheduling entities */
  uint64_t total;              /* scheduling entities */
} mida__proc_loadavg;

int mida__proc_parse_loadavg(const char *text, size_t len,
                             mida__proc_loadavg *out);

/* /proc/net/dev, summed over every interface except "lo". */
typedef struct mida__proc_netdev {
  uint64_t rx_bytes, rx_packets, rx_errors; /* received */
  uint64_t tx_bytes, tx_packets, tx_errors; /* sent */
  uint64_t interfaces;                      /* interfaces summed */
} mida__proc_netdev;

int mida__proc_parse_netdev(const char *text, size_t len,
                            mida__proc_netdev *out);

/* /proc/diskstats, summed over whole disks: loop, ram, zram, dm-, md and
 * sr devices are left out (they would count the same I/O twice, or are
 * not disks), and so is a partition (a name that is an earlier disk's name
 * followed by digits, or by 'p' and digits). */
typedef struct mida__proc_diskstats {
  uint64_t reads, read_sectors;   /* completed reads; 512-byte sectors */
  uint64_t writes, write_sectors; /* completed writes; 512-byte sectors */
  uint64_t io_ms;                 /* time spent doing I/O, ms */
  uint64_t disks;                 /* disks summed */
} mida__proc_diskstats;

int mida__proc_parse_diskstats(const char *text, size_t len,
                               mida__proc_diskstats *out);

#endif /* MIDA_OBSERVE_PROC_H */
