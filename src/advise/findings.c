/*
 * findings.c - documented results the advisor cites, each with its figure
 * and who measured it.  Figures are quoted as their sources state them;
 * ../shared/research/seeds.md notes where the EcoCompute data disagree
 * with themselves, which is why joule prefers the user's own measurements.
 */
#include "advise.h"

#include "joule_int.h"

#include <string.h>

static const struct joule_finding findings[] = {
    {"int8-decomposition", "bitsandbytes INT8 at its default outlier threshold",
     "+17-147% energy per token vs FP16 (+17-33% RTX 4090D, +122-147% A800); 72-76% lower "
     "throughput",
     "LLM.int8 splits every linear layer into an INT8 product and a 16-bit product of the "
     "outlier columns, with type conversions between them: more kernels and more memory "
     "traffic per token.",
     "set llm_int8_threshold=0.0 (pure INT8), or use FP16 or NF4",
     "EcoCompute (hongping-zh/ecocompute-dynamic-eval), NVML at 10 Hz, n=10; bitsandbytes "
     "issues #1867 and #1851"},
    {"int8-pure", "bitsandbytes INT8 with llm_int8_threshold=0.0",
     "-3 to -8% energy vs FP16 on RTX 4090D, but +32-44% on A800",
     "Without decomposition INT8 halves the weight bytes, but bitsandbytes' INT8 kernels reach "
     "a smaller share of the hardware's peak than FP16 GEMMs do; whether it saves energy "
     "depends on the GPU.",
     "measure it on your GPU before adopting it (joule compare), and validate accuracy",
     "EcoCompute pure-INT8 ablation (RTX 4090D, A800)"},
    {"nf4-small", "4-bit NF4 on models of 3B parameters or fewer",
     "+11-29% energy vs FP16 (RTX 5090); saves energy only from about 6B parameters",
     "A small model is not limited by memory: the dequantization kernels NF4 adds to every "
     "linear layer cost more than the bytes they save.",
     "use FP16 for models of 3B parameters or fewer",
     "EcoCompute quantization guide (RTX 5090, Qwen2-1.5B, Phi-3-mini)"},
    {"batch-size", "batch size is the largest lever",
     "batch 1 -> 8: -87% energy per request; batch 1 -> 64: -95.7% (A800, Mistral-7B)",
     "Decoding is memory-bound at small batches: one read of the weights serves every sequence "
     "of the batch, so energy per request falls almost as 1/B until compute saturates.",
     "batch concurrent requests (continuous batching: vLLM, TGI, joule serve); offline jobs at "
     "batch 32-64",
     "EcoCompute batch-size experiment (A800, Mistral-7B pure INT8, batch 1-64, n=10)"},
    {"power-not-energy", "lower power draw is not lower energy per token",
     "configurations drawing less power often take longer per token and spend more energy",
     "Energy is power x time: a slower kernel at lower power can cost more joules per token "
     "than a faster one at higher power.",
     "compare joules per token (or per 1k tokens), never watts",
     "EcoCompute; also the ML.ENERGY leaderboard's per-token accounting"},
    {"fp8-eager", "FP8 weight-only quantization run eagerly (torchao)", "+158-701% energy vs FP16",
     "Without compiled kernels the weights are converted back to 16-bit on every use.",
     "use an engine with native FP8 GEMMs (vLLM, TensorRT-LLM) or torch.compile",
     "EcoCompute FP8 experiment (torchao Float8WeightOnlyConfig, eager)"},
};

const struct joule_finding *joule_finding_at(size_t i)
{
    return i < JOULE_ARRAY_LEN(findings) ? &findings[i] : NULL;
}

const struct joule_finding *joule_finding_find(const char *id)
{
    for (size_t i = 0; id && i < JOULE_ARRAY_LEN(findings); i++)
        if (strcmp(findings[i].id, id) == 0)
            return &findings[i];
    return NULL;
}
