/*
 * proc_fuzz.c -- libFuzzer target for the /proc parsers of the telemetry
 * sampler (src/telemetry/proc.c). The first byte picks a parser, the rest is
 * the file's text, handed over without a NUL after it so that ASan sees
 * any read past its end. A parser must never read out of bounds, and what
 * it reports must hold together (a keyed field found has its bit set,
 * counts never exceed what the text could hold).
 */
#include "mida.h"
#include "telemetry/proc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  unsigned which = data[0] % 8;
  size_t len = size - 1;
  char *text = malloc(len ? len : 1);
  if (text == NULL)
    return 0;
  memcpy(text, data + 1, len);
  switch (which) {
  case 0: {
    mida__proc_pstat ps;
    (void)mida__proc_parse_pstat(text, len, &ps);
    break;
  }
  case 1: {
    mida__proc_statm sm;
    (void)mida__proc_parse_statm(text, len, &sm);
    break;
  }
  case 2: {
    static const char *const keys[] = {"VmRSS", "read_bytes", "MemTotal",
                                       "a", ""};
    uint64_t v[5], found = 0;
    int rc = mida__proc_parse_keyed(text, len, keys, 5, v, &found);
    if ((rc == MIDA_OK) != (found != 0) || (found >> 5) != 0)
      abort();
    break;
  }
  case 3: {
    mida__proc_sysstat s;
    (void)mida__proc_parse_sysstat(text, len, &s);
    if (s.ncpu > len)
      abort();
    break;
  }
  case 4: {
    mida__proc_loadavg la;
    (void)mida__proc_parse_loadavg(text, len, &la);
    break;
  }
  case 5: {
    mida__proc_netdev nd;
    (void)mida__proc_parse_netdev(text, len, &nd);
    if (nd.interfaces > len)
      abort();
    break;
  }
  default: {
    mida__proc_diskstats ds;
    (void)mida__proc_parse_diskstats(text, len, &ds);
    if (ds.disks > len)
      abort();
    break;
  }
  }
  free(text);
  return 0;
}
