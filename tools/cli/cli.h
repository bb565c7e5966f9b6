/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the commands of the pgmove tool share: opening the device, /proc readers, argument
 * parsing, and the exit codes every command uses:
 *   0 done; 1 failed at run time; 2 bad arguments; 3 no /dev/pgmove (module not loaded);
 *   4 not allowed (the device's mode, or a right RECLAIM of another process needs).
 */
#ifndef PGMOVE_CLI_H
#define PGMOVE_CLI_H

#include <stdbool.h>

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_NO_DEVICE = 3, EXIT_NOT_ALLOWED = 4 };

/* /dev/pgmove opened read-write; on failure says why and exits with 3 or 4 (or 1). */
int open_dev(void);
/* A "Key:   123 kB" field of /proc/PID/status in kB, or -1 if it cannot be read. */
long long status_kb(int pid, const char *key);
/* VmPTE of a process in kB, or -1. */
long long vmpte_kb(int pid);
/* A number with an optional k/M/G/T suffix (powers of 1024); false if malformed. */
bool parse_size(const char *s, unsigned long long *v);
/* Seconds on CLOCK_MONOTONIC. */
double now_s(void);

int cmd_reclaimd(int argc, char **argv);
void reclaimd_usage(FILE *out);

#endif /* PGMOVE_CLI_H */
