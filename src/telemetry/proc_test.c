/*
 * proc_test.c -- the /proc parsers on texts as the kernel writes them and
 * on texts it does not: command names with ')' and spaces, cut files,
 * numbers that overflow, partitions that must not be counted twice, and
 * the reader's answers for missing, unreadable and oversized files.
 */
#include "mida.h"
#include "telemetry/proc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEN(s) (sizeof(s) - 1)

static void test_stat_with_a_hostile_command_name(void **state) {
  (void)state;
  static const char text[] =
      "4242 (a) b) (c d) S 1 4242 4242 0 -1 4194560 1500 0 7 0 "
      "250 40 0 0 20 0 6 0 123456 104857600 2560 18446744073709551615";
  mida__proc_pstat ps;
  assert_int_equal(mida__proc_parse_pstat(text, LEN(text), &ps), MIDA_OK);
  assert_int_equal(ps.minflt, 1500);
  assert_int_equal(ps.majflt, 7);
  assert_int_equal(ps.utime_ticks, 250);
  assert_int_equal(ps.stime_ticks, 40);
  assert_int_equal(ps.threads, 6);
  assert_int_equal(ps.vsize, 104857600);
  assert_int_equal(ps.rss_pages, 2560);
  /* What the sampler of a process tree needs: who it is, whose child. */
  assert_int_equal(ps.state, 'S');
  assert_int_equal(ps.ppid, 1);
  assert_int_equal(ps.start_ticks, 123456);
}

static void test_stat_of_a_zombie(void **state) {
  (void)state;
  /* An exited, unreaped process: state Z, no memory left. */
  static const char text[] =
      "77 (sh) Z 76 77 77 0 -1 4227084 90 0 0 0 3 1 0 0 20 0 1 0 5000 0 0";
  mida__proc_pstat ps;
  assert_int_equal(mida__proc_parse_pstat(text, LEN(text), &ps), MIDA_OK);
  assert_int_equal(ps.state, 'Z');
  assert_int_equal(ps.ppid, 76);
  assert_int_equal(ps.start_ticks, 5000);
  assert_int_equal(ps.rss_pages, 0);
}

static void test_stat_cut_short_or_without_name_is_corrupt(void **state) {
  (void)state;
  mida__proc_pstat ps;
  static const char cut[] = "4242 (x) S 1 2 3 4";
  assert_int_equal(mida__proc_parse_pstat(cut, LEN(cut), &ps),
                   MIDA_ECORRUPT);
  static const char noname[] = "4242 x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14";
  assert_int_equal(mida__proc_parse_pstat(noname, LEN(noname), &ps),
                   MIDA_ECORRUPT);
  assert_int_equal(mida__proc_parse_pstat("", 0, &ps), MIDA_ECORRUPT);
}

static void test_numbers_saturate(void **state) {
  (void)state;
  static const char text[] = "99999999999999999999999 12 3";
  mida__proc_statm sm;
  assert_int_equal(mida__proc_parse_statm(text, LEN(text), &sm), MIDA_OK);
  assert_int_equal(sm.size, UINT64_MAX);
  assert_int_equal(sm.resident, 12);
  assert_int_equal(sm.shared, 3);
}

static void test_keyed_files(void **state) {
  (void)state;
  static const char status[] = "Name:\tpython3\nVmHWM:\t  20480 kB\n"
                               "VmRSS:\t   10240 kB\n"
                               "voluntary_ctxt_switches:\t17\n"
                               "nonvoluntary_ctxt_switches:\t3";
  const char *keys[] = {"VmRSS", "VmHWM", "voluntary_ctxt_switches",
                        "nonvoluntary_ctxt_switches", "VmSwap"};
  uint64_t v[5], found;
  assert_int_equal(
      mida__proc_parse_keyed(status, LEN(status), keys, 5, v, &found),
      MIDA_OK);
  assert_int_equal(found, 0xf); /* VmSwap absent */
  assert_int_equal(v[0], 10240);
  assert_int_equal(v[1], 20480);
  assert_int_equal(v[2], 17);
  assert_int_equal(v[3], 3); /* last line without a newline */
  static const char junk[] = "VmRSS 10\n:::\n\n";
  assert_int_equal(mida__proc_parse_keyed(junk, LEN(junk), keys, 5, v, &found),
                   MIDA_ECORRUPT);
  assert_int_equal(found, 0);
}

static void test_system_stat_and_loadavg(void **state) {
  (void)state;
  static const char text[] = "cpu  100 5 50 1000 20 1 2 3 0 0\n"
                             "cpu0 50 2 25 500 10 0 1 1 0 0\n"
                             "cpu1 50 3 25 500 10 1 1 2 0 0\n"
                             "intr 12345 1 2 3\nctxt 98765\n"
                             "btime 1700000000\nprocesses 4000\n"
                             "procs_running 3\nprocs_blocked 1\n";
  mida__proc_sysstat s;
  assert_int_equal(mida__proc_parse_sysstat(text, LEN(text), &s), MIDA_OK);
  assert_int_equal(s.user, 100);
  assert_int_equal(s.idle, 1000);
  assert_int_equal(s.steal, 3);
  assert_int_equal(s.ncpu, 2);
  assert_int_equal(s.ctxt, 98765);
  assert_int_equal(s.procs_running, 3);
  assert_int_equal(s.procs_blocked, 1);
  static const char la[] = "0.52 1.25 10.00 2/345 6789\n";
  mida__proc_loadavg l;
  assert_int_equal(mida__proc_parse_loadavg(la, LEN(la), &l), MIDA_OK);
  assert_true(l.load1 > 0.51 && l.load1 < 0.53);
  assert_true(l.load15 > 9.99 && l.load15 < 10.01);
  assert_int_equal(l.running, 2);
  assert_int_equal(l.total, 345);
  assert_int_equal(mida__proc_parse_loadavg("x", 1, &l), MIDA_ECORRUPT);
}

static void test_network_leaves_loopback_out(void **state) {
  (void)state;
  static const char text[] =
      "Inter-|   Receive                            "
      "                    |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|"
      "bytes    packets errs drop fifo colls carrier compressed\n"
      "    lo: 9999 99 0 0 0 0 0 0 9999 99 0 0 0 0 0 0\n"
      "  eth0: 1000 10 1 0 0 0 0 0 2000 20 2 0 0 0 0 0\n"
      "  eth1: 500 5 0 0 0 0 0 0 700 7 0 0 0 0 0 0\n";
  mida__proc_netdev nd;
  assert_int_equal(mida__proc_parse_netdev(text, LEN(text), &nd), MIDA_OK);
  assert_int_equal(nd.interfaces, 2);
  assert_int_equal(nd.rx_bytes, 1500);
  assert_int_equal(nd.tx_bytes, 2700);
  assert_int_equal(nd.rx_packets, 15);
  assert_int_equal(nd.tx_errors, 2);
}

static void test_disks_count_once(void **state) {
  (void)state;
  static const char text[] =
      "   7       0 loop0 9 0 9 0 0 0 0 0 0 0 0\n"
      "   8       0 sda 100 0 2000 0 50 0 1000 0 0 30 0\n"
      "   8       1 sda1 90 0 1800 0 45 0 900 0 0 25 0\n"
      " 259       0 nvme0n1 10 0 200 0 5 0 100 0 0 3 0\n"
      " 259       1 nvme0n1p1 10 0 200 0 5 0 100 0 0 3 0\n"
      " 253       0 dm-0 10 0 200 0 5 0 100 0 0 3 0\n"
      " 252       0 vda 1 0 8 0 2 0 16 0 0 1 0\n";
  mida__proc_diskstats ds;
  assert_int_equal(mida__proc_parse_diskstats(text, LEN(text), &ds), MIDA_OK);
  assert_int_equal(ds.disks, 3); /* sda, nvme0n1, vda */
  assert_int_equal(ds.reads, 111);
  assert_int_equal(ds.read_sectors, 2208);
  assert_int_equal(ds.write_sectors, 1116);
  assert_int_equal(ds.io_ms, 34);
}

static void test_reader_answers(void **state) {
  (void)state;
  char dir[] = "/tmp/mida-proc-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[128], buf[16];
  size_t len = 99;
  assert_int_equal(mida__proc_read(dir, "missing", buf, sizeof buf, &len),
                   MIDA_EIO);
  assert_int_equal(len, 0);
  snprintf(path, sizeof path, "%s/sub", dir);
  mkdir(path, 0755);
  assert_int_equal(mida__proc_read(dir, "sub", buf, sizeof buf, &len),
                   MIDA_EIO); /* a directory cannot be read */
  snprintf(path, sizeof path, "%s/big", dir);
  FILE *f = fopen(path, "w");
  fputs("0123456789abcdefghij", f);
  fclose(f);
  assert_int_equal(mida__proc_read(dir, "big", buf, sizeof buf, &len),
                   MIDA_ETOOBIG);
  assert_int_equal(len, 15);
  assert_string_equal(buf, "0123456789abcde");
  char small[32];
  assert_int_equal(mida__proc_read(dir, "big", small, sizeof small, &len),
                   MIDA_OK);
  assert_int_equal(len, 20);
  assert_int_equal(mida__proc_read("/proc", "self/stat", small, 2, &len),
                   MIDA_ETOOBIG);
  unlink(path);
  snprintf(path, sizeof path, "%s/sub", dir);
  rmdir(path);
  rmdir(dir);
}

static void test_real_proc_files_parse(void **state) {
  (void)state;
  static char buf[1 << 17];
  size_t len;
  mida__proc_pstat ps;
  assert_int_equal(mida__proc_read("/proc", "self/stat", buf, sizeof buf,
                                   &len),
                   MIDA_OK);
  assert_int_equal(mida__proc_parse_pstat(buf, len, &ps), MIDA_OK);
  assert_true(ps.threads >= 1 && ps.rss_pages > 0);
  mida__proc_sysstat s;
  assert_int_equal(mida__proc_read("/proc", "stat", buf, sizeof buf, &len),
                   MIDA_OK);
  assert_int_equal(mida__proc_parse_sysstat(buf, len, &s), MIDA_OK);
  assert_true(s.ncpu >= 1);
  mida__proc_netdev nd;
  assert_int_equal(mida__proc_read("/proc", "net/dev", buf, sizeof buf,
                                   &len),
                   MIDA_OK);
  assert_int_equal(mida__proc_parse_netdev(buf, len, &nd), MIDA_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stat_with_a_hostile_command_name),
      cmocka_unit_test(test_stat_cut_short_or_without_name_is_corrupt),
      cmocka_unit_test(test_stat_of_a_zombie),
      cmocka_unit_test(test_numbers_saturate),
      cmocka_unit_test(test_keyed_files),
      cmocka_unit_test(test_system_stat_and_loadavg),
      cmocka_unit_test(test_network_leaves_loopback_out),
      cmocka_unit_test(test_disks_count_once),
      cmocka_unit_test(test_reader_answers),
      cmocka_unit_test(test_real_proc_files_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
