/* workload.h - a built-in CPU workload for `joule measure --workload cpu`. */
#ifndef JOULE_CLI_WORKLOAD_H
#define JOULE_CLI_WORKLOAD_H

#include "joule.h"

struct workload_result {
    unsigned threads;
    double flops;     /* floating-point operations done */
    double seconds;   /* wall time */
};

/* Multiply 64x64 float matrices on `threads` threads (0: online CPUs) for
 * `seconds`: a dense, cache-resident load like a GEMM kernel's. */
enum joule_status workload_cpu(double seconds, unsigned threads, struct workload_result *out);

#endif /* JOULE_CLI_WORKLOAD_H */
