/*
 * kernels_float_avx2.c - float avx2 variants of the kernels of kernels.h.
 * Compiled with the ISA's flags (CMakeLists.txt); called only after CPUID.
 */
#include "kernels.h"

void joule_kernels_add_float_avx2(struct joule_kernels *k)
{
    (void)k; /* no variants yet: the scalar twins stay */
}
