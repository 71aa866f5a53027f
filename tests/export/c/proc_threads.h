/* The test programs' one look at the process: how many threads it runs, to check when an
 * exported handle starts its workers. Shared by consumer.c and api_errors.c. */
#ifndef KCC_TEST_PROC_THREADS_H
#define KCC_TEST_PROC_THREADS_H

#include <stdio.h>

/* Threads of this process (Linux: /proc/self/status), -1 where unknown. */
static int os_threads(void) {
    FILE* f = fopen("/proc/self/status", "r");
    char line[256];
    int count = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &count) == 1) break;
    if (f) fclose(f);
    return count;
}

#endif
