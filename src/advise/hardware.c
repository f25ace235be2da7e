/*
 * hardware.c - the device table of the advisor.  Every figure's source is
 * in docs/hardware.md; idle powers are typical values, not datasheet ones.
 */
#include "advise.h"

#include "joule_int.h"

#include <ctype.h>
#include <string.h>

#define GPU JOULE_HW_GPU
#define CPU JOULE_HW_CPU

/* id, name, arch, kind, memory GB, GB/s, TDP W, idle W,
 * FP32, FP16, BF16, FP8 TFLOPS, INT8 TOPS (dense), NVML name patterns */
static const struct joule_hw table[] = {
    {"rtx3090", "NVIDIA GeForce RTX 3090", "ampere", GPU, 24, 936, 350, 25, 35.6, 71, 71, 0, 284,
     "rtx 3090"},
    {"rtx4090", "NVIDIA GeForce RTX 4090", "ada", GPU, 24, 1008, 450, 20, 82.6, 165.2, 165.2, 330.3,
     660.6, "rtx 4090|!4090 d"},
    {"rtx4090d", "NVIDIA GeForce RTX 4090 D", "ada", GPU, 24, 1008, 425, 20, 73.5, 147, 147, 294,
     588, "4090 d"},
    {"rtx5090", "NVIDIA GeForce RTX 5090", "blackwell", GPU, 32, 1792, 575, 30, 104.8, 209.5, 209.5,
     419, 838, "rtx 5090"},
    {"a10", "NVIDIA A10", "ampere", GPU, 24, 600, 150, 15, 31.2, 125, 125, 0, 250, "a10|!a100"},
    {"a100-40gb", "NVIDIA A100 40GB SXM", "ampere", GPU, 40, 1555, 400, 50, 19.5, 312, 312, 0, 624,
     "a100-sxm4-40gb|a100-pcie-40gb|a100 40gb"},
    {"a100-80gb", "NVIDIA A100 80GB SXM", "ampere", GPU, 80, 2039, 400, 55, 19.5, 312, 312, 0, 624,
     "a100-sxm4-80gb|a100 80gb|a100-pcie-80gb|a100 80gb pcie"},
    {"a800", "NVIDIA A800 80GB PCIe", "ampere", GPU, 80, 1935, 300, 50, 19.5, 312, 312, 0, 624,
     "a800"},
    {"h100-pcie", "NVIDIA H100 PCIe", "hopper", GPU, 80, 2000, 350, 50, 51.2, 756, 756, 1513, 1513,
     "h100 pcie"},
    {"h100-sxm", "NVIDIA H100 SXM", "hopper", GPU, 80, 3350, 700, 70, 66.9, 989.4, 989.4, 1979,
     1979, "h100 80gb hbm3|h100-sxm|h100 sxm"},
    {"h200", "NVIDIA H200", "hopper", GPU, 141, 4800, 700, 75, 66.9, 989.4, 989.4, 1979, 1979,
     "h200"},
    {"l4", "NVIDIA L4", "ada", GPU, 24, 300, 72, 16, 30.3, 121, 121, 242.5, 242.5, "nvidia l4"},
    {"l40s", "NVIDIA L40S", "ada", GPU, 48, 864, 350, 35, 91.6, 362, 362, 733, 733, "l40s"},
    {"t4", "NVIDIA T4", "turing", GPU, 16, 320, 70, 10, 8.1, 65, 0, 0, 130, "tesla t4"},
    {"v100", "NVIDIA V100 32GB SXM2", "volta", GPU, 32, 900, 300, 40, 15.7, 125, 0, 0, 62.8,
     "v100"},
    {"mi300x", "AMD Instinct MI300X", "cdna3", GPU, 192, 5300, 750, 140, 163.4, 1307.4, 1307.4,
     2614.9, 2614.9, "mi300x"},
    /* CPU classes: one socket, the engine's F32 accumulation; INT8 with
     * VNNI-class dot products. */
    {"cpu-laptop", "laptop CPU, 4 cores, 2-channel DDR4-3200", "x86-avx2", CPU, 16, 51.2, 28, 4,
     0.4, 0.4, 0.4, 0, 1.6, ""},
    {"cpu-desktop", "desktop CPU, 8 cores, 2-channel DDR5-5600", "x86-avx512", CPU, 64, 89.6, 125,
     20, 1.15, 1.15, 1.15, 0, 4.6, ""},
    {"cpu-server", "server CPU, 32 cores, 8-channel DDR4-3200", "x86-avx512", CPU, 512, 204.8, 280,
     70, 5.1, 5.1, 5.1, 0, 20.4, ""},
    {"cpu-server-ddr5", "server CPU, 64 cores, 12-channel DDR5-4800", "x86-avx512", CPU, 768, 460.8,
     360, 100, 10.2, 10.2, 10.2, 0, 41, ""},
};

const struct joule_hw *joule_hw_at(size_t i)
{
    return i < JOULE_ARRAY_LEN(table) ? &table[i] : NULL;
}

/* Lower case, letters and digits only: "RTX 4090-D" -> "rtx4090d". */
static void squash(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; *s && n + 1 < size; s++)
        if (isalnum((unsigned char)*s))
            out[n++] = (char)tolower((unsigned char)*s);
    out[n] = '\0';
}

/* Family keywords: a device the table lacks is answered with the entry of
 * its architecture that users most often have. */
static const struct {
    const char *key, *id, *arch;
} families[] = {
    {"h800", "h100-sxm", "Hopper"},
    {"h20", "h100-pcie", "Hopper"},
    {"gh200", "h200", "Hopper"},
    {"h100", "h100-sxm", "Hopper"},
    {"a40", "a10", "Ampere"},
    {"a30", "a100-40gb", "Ampere"},
    {"a6000", "rtx3090", "Ampere"},
    {"a5000", "rtx3090", "Ampere"},
    {"3080", "rtx3090", "Ampere"},
    {"a100", "a100-80gb", "Ampere"},
    {"4080", "rtx4090", "Ada"},
    {"l40", "l40s", "Ada"},
    {"6000ada", "l40s", "Ada"},
    {"5080", "rtx5090", "Blackwell"},
    {"b200", "h200", "Blackwell (nearest in the table: H200)"},
    {"2080", "t4", "Turing"},
    {"mi250", "mi300x", "CDNA"},
    {"p100", "v100", "Pascal (nearest in the table: Volta)"},
};

const struct joule_hw *joule_hw_find(const char *name, char *why, size_t why_size)
{
    char want[128], id[64];
    if (why_size)
        why[0] = '\0';
    squash(name ? name : "", want, sizeof(want));
    if (!want[0])
        goto unknown;
    for (size_t i = 0; i < JOULE_ARRAY_LEN(table); i++) {
        squash(table[i].id, id, sizeof(id));
        if (strcmp(want, id) == 0)
            return &table[i];
    }
    /* A spelling with the vendor or form factor: "NVIDIA A100 80GB". */
    const char *vendor[] = {"nvidia", "geforce", "tesla", "amd", "instinct"};
    for (size_t v = 0; v < JOULE_ARRAY_LEN(vendor); v++) {
        size_t k = strlen(vendor[v]);
        if (strncmp(want, vendor[v], k) == 0)
            memmove(want, want + k, strlen(want + k) + 1);
    }
    for (size_t i = 0; i < JOULE_ARRAY_LEN(table); i++) {
        squash(table[i].id, id, sizeof(id));
        if (strcmp(want, id) == 0 ||
            (strncmp(want, id, strlen(id)) == 0 && strcmp(want + strlen(id), "sxm") == 0))
            return &table[i];
    }
    for (size_t f = 0; f < JOULE_ARRAY_LEN(families); f++) {
        if (!strstr(want, families[f].key))
            continue;
        for (size_t i = 0; i < JOULE_ARRAY_LEN(table); i++)
            if (strcmp(table[i].id, families[f].id) == 0) {
                joule_fmt(why, why_size,
                          "'%s' is not in the table: answered for the %s, the closest %s "
                          "device (its figures are not yours: calibrate with your own runs)",
                          name, table[i].name, families[f].arch);
                return &table[i];
            }
    }
unknown:;
    size_t len = 0;
    if (why_size) {
        joule_fmt(why, why_size, "unknown device '%s' (known:", name ? name : "");
        len = strlen(why);
        for (size_t i = 0; i < JOULE_ARRAY_LEN(table) && len + 20 < why_size; i++) {
            joule_fmt(why + len, why_size - len, " %s", table[i].id);
            len = strlen(why);
        }
        joule_fmt(why + len, why_size - len, ")");
    }
    return NULL;
}
