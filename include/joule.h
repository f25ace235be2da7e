/*
 * joule.h - the public API of libjoule.
 *
 * joule measures the energy of LLM inference.  This header is the whole
 * contract of the library: every other header in the source tree is private.
 *
 * Conventions (apply to every function below unless its comment says
 * otherwise):
 *  - Fallible functions return enum joule_status; JOULE_OK (0) is success.
 *  - Objects are opaque handles (struct joule_x *), created by
 *    joule_x_open(params, &out) and released by joule_x_close(x).
 *    Closing NULL is a no-op.
 *  - Handles that do I/O keep the message of their last error, readable with
 *    joule_x_errmsg(x) until the next call on the same handle.
 *  - Strings passed in are borrowed for the duration of the call only.
 *    Strings returned are owned by the library and stay valid as long as the
 *    object they came from (static strings forever).
 *  - The library never prints, never exits and keeps no mutable global state.
 *  - Energies are joules, powers watts, times seconds unless a name says
 *    otherwise.  A value that does not exist is NAN, never 0.
 */
#ifndef JOULE_H
#define JOULE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define JOULE_API __attribute__((visibility("default")))
#else
#define JOULE_API
#endif

#define JOULE_VERSION_MAJOR 0
#define JOULE_VERSION_MINOR 1
#define JOULE_VERSION_PATCH 0

/* ---------------------------------------------------------------------------
 * Status codes.  Append-only: values reach databases and scripts.
 */
enum joule_status {
    JOULE_OK = 0,
    JOULE_ERR_INVALID = 1,     /* a bad argument or parameter value */
    JOULE_ERR_NOMEM = 2,       /* an allocation failed */
    JOULE_ERR_IO = 3,          /* a read or write failed */
    JOULE_ERR_FORMAT = 4,      /* malformed input (file, script, counter text) */
    JOULE_ERR_UNSUPPORTED = 5, /* the hardware or build does not offer this */
    JOULE_ERR_NOT_FOUND = 6,   /* a named thing (window, file, device) is absent */
    JOULE_ERR_STATE = 7,       /* call out of order (window already open, ...) */
    JOULE_ERR_THREAD = 8,      /* a thread could not be started */
};

/* Fixed English text for a status ("invalid argument", ...). Never NULL. */
JOULE_API const char *joule_status_str(enum joule_status s);

/* "0.1.0 (commit abc1234)": the library version and the commit it was built
 * from.  Static string. */
JOULE_API const char *joule_version(void);

/* ---------------------------------------------------------------------------
 * Energy meter.
 *
 * A meter owns a set of energy domains (one GPU, one RAPL package, DRAM, an
 * estimated CPU ...) gathered from sources (nvml, rapl, hwmon, estimate,
 * fake), and one background sampler thread that reads them every interval.
 * Windows are named spans of time; they may nest and overlap.  Ending a
 * window gives a joule_reading: per-domain energy with its provenance and an
 * absolute error bound.  See docs/methodology.md for every formula.
 */

#define JOULE_MAX_DOMAINS 32  /* domains one meter can hold */
#define JOULE_NAME_MAX 64     /* window and domain names, with the NUL */
#define JOULE_NOTE_MAX 256    /* notes (reason, model, interval), with the NUL */

/* How a number was obtained.  Every energy number carries one. */
enum joule_provenance {
    JOULE_PROV_MEASURED = 0,    /* difference of a hardware energy counter */
    JOULE_PROV_SAMPLED = 1,     /* power samples integrated (trapezoid) */
    JOULE_PROV_ESTIMATED = 2,   /* a model (named in the note), no hardware reading */
    JOULE_PROV_UNAVAILABLE = 3, /* no number; the note says why and how to fix it */
};

enum joule_domain_kind {
    JOULE_DOMAIN_GPU = 0,
    JOULE_DOMAIN_PACKAGE = 1, /* a CPU package (RAPL) */
    JOULE_DOMAIN_CORE = 2,    /* cores, inside a package */
    JOULE_DOMAIN_UNCORE = 3,  /* uncore / integrated GPU, inside a package */
    JOULE_DOMAIN_DRAM = 4,
    JOULE_DOMAIN_PSYS = 5,    /* whole platform (contains the package) */
    JOULE_DOMAIN_CPU = 6,     /* whole CPU, when estimated */
    JOULE_DOMAIN_OTHER = 7,
};

/* Flags on a domain reading or on a whole reading. */
enum joule_flag {
    JOULE_FLAG_SHORT_WINDOW = 1u << 0,  /* window < 2 counter updates: P x T used */
    JOULE_FLAG_NEGATIVE_NET = 1u << 1,  /* net < 0: the idle baseline was wrong */
    JOULE_FLAG_METER_GAP = 1u << 2,     /* a sampler gap > 5 intervals */
    JOULE_FLAG_COUNTER_RESET = 1u << 3, /* the counter went back with no known range */
    JOULE_FLAG_COARSE = 1u << 4,        /* sampled with an interval > duration / 10 */
    JOULE_FLAG_ESTIMATED_ONLY = 1u << 5, /* reading: no measured or sampled domain */
    JOULE_FLAG_MIXED = 1u << 6,         /* reading: the total mixes provenances */
    JOULE_FLAG_PARTIAL = 1u << 7,       /* reading: some domain is unavailable */
};

/* Static names: "measured", "gpu", "short-window" ... Never NULL. */
JOULE_API const char *joule_provenance_str(enum joule_provenance p);
JOULE_API const char *joule_domain_kind_str(enum joule_domain_kind k);
/* Name of the lowest set bit of flag ("short-window"), "" for 0. */
JOULE_API const char *joule_flag_str(uint32_t flag);

struct joule_meter_params {
    /* Which sources to open: NULL or "auto" means nvml, rapl and hwmon, plus
     * the CPU estimate when no CPU counter is readable.  Otherwise a comma
     * list of "nvml", "rapl", "hwmon", "estimate" and "fake:PATH" (a scripted
     * source for tests, see docs/methodology.md). */
    const char *sources;
    uint32_t interval_ms;      /* sampler period, >= 1; 0 = no sampler thread */
    double cpu_tdp_w;          /* estimate: watts of the visible CPUs; 0 = table */
    const char *powercap_root; /* NULL: $JOULE_POWERCAP_ROOT or /sys/class/powercap */
    const char *nvml_lib;      /* NULL: $JOULE_NVML_LIB or libnvidia-ml.so.1 */
    const char *hwmon_root;    /* NULL: $JOULE_HWMON_ROOT or /sys/class/hwmon */
    const char *proc_root;     /* NULL: $JOULE_PROC_ROOT or /proc */
    uint32_t timeline_max;     /* power samples kept (ring); 0 = no timeline */
    /* NVIDIA GPUs to measure, as CUDA_VISIBLE_DEVICES writes them ("0,1",
     * UUIDs); NULL or "": $CUDA_VISIBLE_DEVICES, else every GPU. */
    const char *gpus;
};

/* Defaults: sources "auto", interval 100 ms, table TDP, 36000 samples
 * (one hour at 100 ms). */
JOULE_API struct joule_meter_params joule_meter_default_params(void);

/* One domain's share of a window. */
struct joule_domain_reading {
    char name[JOULE_NAME_MAX];   /* "gpu0", "package-0", "package-0/dram", "cpu" */
    char source[16];             /* "nvml", "rapl", "hwmon", "estimate", "fake" */
    char note[JOULE_NOTE_MAX];   /* reason, model or caveat; "" when none */
    enum joule_domain_kind kind;
    enum joule_provenance provenance;
    uint32_t flags;              /* enum joule_flag bits */
    int32_t in_total;            /* 1: summed into the total; 0: inside another domain */
    double energy_j;             /* gross energy */
    double bound_j;              /* +- absolute bound on energy_j */
    double net_energy_j;         /* energy_j - idle_power_w * duration; NAN w/o idle */
    double net_bound_j;          /* bound_j + duration * idle sigma */
    double idle_power_w;         /* idle baseline; NAN when none was measured */
    double avg_power_w;          /* energy_j / duration */
    double peak_power_w;         /* highest power seen in the window */
    double interval_s;           /* sampler interval (sampled) or counter update period */
    uint64_t n_samples;          /* sampler ticks inside the window */
};

/* A closed window. */
struct joule_reading {
    char name[JOULE_NAME_MAX];
    double t_begin_s;            /* seconds since the meter was opened */
    double duration_s;
    double total_energy_j;       /* sum of available domains with in_total; NAN if none */
    double total_bound_j;
    double total_net_energy_j;   /* NAN without an idle baseline */
    double total_net_bound_j;
    enum joule_provenance total_provenance; /* the weakest provenance summed */
    uint32_t flags;              /* union of domain flags plus reading flags */
    uint32_t n_domains;
    struct joule_domain_reading domains[JOULE_MAX_DOMAINS];
};

/* What a domain is, for listing devices.  Numbers not known are NAN. */
struct joule_domain_info {
    char name[JOULE_NAME_MAX];
    char source[16];
    char note[JOULE_NOTE_MAX];     /* why unavailable, or the model used */
    char device[128];              /* GPU or CPU model, zone path, ... */
    char uuid[96];                 /* GPU UUID, "" otherwise */
    char driver[64];               /* driver version, "" when not known */
    enum joule_domain_kind kind;
    enum joule_provenance provenance; /* what readings of it will be */
    int32_t in_total;
    int32_t index;                 /* device index in its source (NVML index), or -1 */
    int32_t mig_mode;              /* 1 on, 0 off, -1 unknown or not a GPU */
    double power_w;                /* power now */
    double power_limit_w;
    double sm_clock_mhz;
    double mem_clock_mhz;
    double temperature_c;
    double memory_used_mib;
    double memory_total_mib;
    double utilization_pct;
    double counter_range_j;        /* wrap range, NAN when none */
    double update_period_s;        /* counter update period, NAN when not a counter */
};

struct joule_meter;

/* Open a meter: find and open the sources, start the sampler.
 * A source that is missing or unreadable is not an error: its domains are
 * listed with provenance JOULE_PROV_UNAVAILABLE and the reason.
 * Returns JOULE_ERR_INVALID for bad params (unknown source, interval), with
 * the message in joule_meter_errmsg(*out).  On every status but
 * JOULE_ERR_NOMEM, *out is a meter the caller must close.  p may be NULL for
 * the defaults.  Thread-safe handle: every function below may be called from
 * any thread. */
JOULE_API enum joule_status joule_meter_open(const struct joule_meter_params *p,
                                             struct joule_meter **out);

/* Stop the sampler and release everything.  NULL is a no-op. */
JOULE_API void joule_meter_close(struct joule_meter *m);

/* Message of the last failed call on m ("" when none).  Valid until the next
 * call on m from any thread. */
JOULE_API const char *joule_meter_errmsg(const struct joule_meter *m);

/* Number of domains and the description of domain i (0-based). */
JOULE_API uint32_t joule_meter_domain_count(const struct joule_meter *m);
JOULE_API enum joule_status joule_meter_domain_info(struct joule_meter *m, uint32_t i,
                                                    struct joule_domain_info *out);

/* Measure idle power for `seconds` (blocks; >= 0.1 s): per domain the mean
 * power and its std over 1 s sub-windows.  Later readings carry net
 * energies.  Call it while the machine is idle, before any window. */
JOULE_API enum joule_status joule_meter_idle(struct joule_meter *m, double seconds);

/* Open the window `name` (1..JOULE_NAME_MAX-1 bytes).  JOULE_ERR_STATE if a
 * window of that name is already open. */
JOULE_API enum joule_status joule_meter_begin(struct joule_meter *m, const char *name);

/* Close the window `name` and fill *out.  JOULE_ERR_NOT_FOUND if no such
 * window is open. */
JOULE_API enum joule_status joule_meter_end(struct joule_meter *m, const char *name,
                                            struct joule_reading *out);

/* Number of power samples held in the timeline ring, and how many older ones
 * were dropped because it was full. */
JOULE_API uint64_t joule_meter_timeline_count(const struct joule_meter *m, uint64_t *dropped);

/* Write the timeline as CSV (t_s,<domain>_w,...) to path, atomically
 * (a temporary file renamed over path).  Never call it inside a window you
 * measure: it is disk I/O. */
JOULE_API enum joule_status joule_meter_write_timeline(struct joule_meter *m, const char *path);

/* The timeline samples taken at t >= t_from (seconds since the meter
 * opened), oldest first, as rows of 1 + *n_domains doubles: t, then the
 * power of each domain in joule_meter_domain_info order (NAN when it has
 * none).  *rows is NULL when there are none; free it with joule_free. */
JOULE_API enum joule_status joule_meter_timeline_copy(struct joule_meter *m, double t_from,
                                                      double **rows, uint64_t *n_rows,
                                                      uint32_t *n_domains);


/* ---------------------------------------------------------------------------
 * Model files (GGUF).
 */

#define JOULE_TYPE_LIMIT 40 /* tensor type ids are below this */

/* What a GGUF model file holds.  Counts not in the file are 0, numbers not
 * in the file NAN, ids not in the file -1, strings not in the file "". */
struct joule_model_info {
    char arch[32];                 /* general.architecture: "llama", "qwen2", "phi3" */
    char name[128];                /* general.name */
    uint32_t gguf_version;
    uint32_t n_tensors;
    uint64_t file_bytes;
    uint64_t n_params;             /* elements of every tensor */
    uint64_t tensor_bytes;         /* bytes of every tensor */
    double bits_per_weight;        /* 8 * tensor_bytes / n_params */
    int64_t file_type;             /* general.file_type (llama.cpp's ftype), -1 if absent */
    uint32_t n_ctx;                /* <arch>.context_length */
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t n_ff;
    uint32_t n_rot;                /* rope.dimension_count (default head dim) */
    uint32_t head_dim;             /* n_embd / n_head */
    double rope_freq_base;
    char rope_scaling[16];         /* "none", "linear", "yarn", ... */
    double rope_scaling_factor;
    double norm_eps;               /* attention.layer_norm_rms_epsilon */
    int32_t tied_output;           /* 1: no output.weight, the embedding is reused */
    char tokenizer[16];            /* tokenizer.ggml.model: "llama" (SPM), "gpt2" (BPE) */
    char tokenizer_pre[32];
    uint32_t n_vocab;              /* tokens in the vocabulary */
    int64_t bos_id;
    int64_t eos_id;
    int64_t unk_id;
    int64_t pad_id;
    int32_t add_bos;               /* 1, 0, or -1 when the file does not say */
    int32_t add_eos;
    int32_t has_chat_template;
    uint32_t type_tensors[JOULE_TYPE_LIMIT]; /* per tensor type id: tensors */
    uint64_t type_params[JOULE_TYPE_LIMIT];  /* ... their elements */
    uint64_t type_bytes[JOULE_TYPE_LIMIT];   /* ... their bytes */
};

/* Read the header and metadata of the GGUF file at path (mmap; tensor data
 * is not touched) into *out.  A malformed file gives JOULE_ERR_FORMAT and
 * "PATH: offset N: what is wrong (expected ...)" in err; JOULE_ERR_IO when
 * it cannot be opened.  err may be NULL when err_size is 0. */
JOULE_API enum joule_status joule_model_inspect(const char *path, struct joule_model_info *out,
                                                char *err, size_t err_size);

/* Name of a tensor type id ("f16", "q4_k"); "unknown" otherwise.  Static. */
JOULE_API const char *joule_type_name(uint32_t type);

/* ---------------------------------------------------------------------------
 * Synthetic models and quantization (docs/cli/joule-model.md,
 * docs/cli/joule-quantize.md).
 */

/* What joule_model_synth() writes.  Strings are borrowed for the call. */
struct joule_synth_params {
    const char *arch;        /* "llama", "qwen2" or "phi3" */
    const char *name;        /* general.name; NULL: "synthetic <arch>" */
    uint32_t n_embd;         /* model width; a multiple of 32 and of n_head */
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;      /* divides n_head */
    uint32_t n_ff;           /* a multiple of 32 */
    uint32_t n_vocab;        /* >= 300 */
    uint32_t n_ctx;
    double rope_freq_base;
    double norm_eps;         /* RMS norm epsilon */
    int tied_output;         /* 1: no output.weight (the embedding is reused) */
    const char *tokenizer;   /* "spm" or "bpe" */
    const char *tokenizer_pre; /* BPE pre-tokenizer name; NULL: by architecture */
    const char *type;        /* "f32" "f16" "bf16" "q8_0" "q4_0" "q4_k_m" "q6_k" "int8" */
    uint64_t seed;
    uint32_t n_threads;      /* threads that make the weights; 0 means 1 */
};

/* Defaults: the llama shape of stories15M (dim 288, 6 layers, 6 heads,
 * ffn 768, vocab 32000, ctx 256, tied), SPM, f32, seed 0, 1 thread. */
JOULE_API struct joule_synth_params joule_synth_default_params(void);

/* Set the shape fields of *p (arch, dimensions, RoPE base, epsilon, tied,
 * tokenizer, name) from the built-in shape `name` ("tinyllama-1.1b"); type,
 * seed and threads are left alone.  JOULE_ERR_NOT_FOUND for an unknown name. */
JOULE_API enum joule_status joule_synth_shape(const char *name, struct joule_synth_params *p);

/* Name of built-in shape i (0, 1, ...), NULL past the last.  Static. */
JOULE_API const char *joule_synth_shape_name(size_t i);

/* Write a GGUF model with seeded random weights (normal, std 0.02; norm
 * weights near 1) and a synthetic vocabulary of the requested kind to path
 * (atomically), with the metadata keys and tensor names llama.cpp reads.
 * Tensors are produced while they are written: memory stays small.
 * JOULE_ERR_INVALID with a message for bad params, JOULE_ERR_IO. */
JOULE_API enum joule_status joule_model_synth(const struct joule_synth_params *p,
                                              const char *path, char *err, size_t err_size);

/* Re-encode the GGUF model at in_path as `type` ("f32" .. "q6_k", or the
 * mixed "q4_k_m") into out_path, keeping every metadata key (but
 * general.file_type, which is set to the new type).  1-D tensors stay F32;
 * see docs/cli/joule-quantize.md for which tensors get which type.
 * n_threads: 0 means 1. */
JOULE_API enum joule_status joule_model_quantize(const char *in_path, const char *out_path,
                                                 const char *type, uint32_t n_threads,
                                                 char *err, size_t err_size);

/* ---------------------------------------------------------------------------
 * Tokenizers (from a GGUF file's tokenizer.ggml.* metadata): SentencePiece
 * ("llama") and byte-level BPE ("gpt2") with the pre-tokenizers of the major
 * families.  See docs/internals/tokenizer.md.
 */

enum joule_tokenize_flags {
    /* Add BOS / EOS when the vocabulary says so (add_bos / add_eos). */
    JOULE_TOKENIZE_ADD_SPECIAL = 1u << 0,
    /* Recognise the text of CONTROL and UNKNOWN tokens ("<s>", "<|im_end|>")
     * in the input.  USER_DEFINED tokens are always recognised, as in
     * llama.cpp and HF tokenizers. */
    JOULE_TOKENIZE_PARSE_SPECIAL = 1u << 1,
};

enum joule_detokenize_flags {
    /* Write the text of CONTROL and UNKNOWN tokens (else they produce nothing). */
    JOULE_DETOKENIZE_RENDER_SPECIAL = 1u << 0,
    /* Drop a leading BOS and a trailing EOS when the vocabulary adds them. */
    JOULE_DETOKENIZE_REMOVE_SPECIAL = 1u << 1,
    /* llama.cpp's clean_up_tokenization_spaces, for the BPE families that
     * have it (gpt-2, llama3, falcon, mpt, starcoder ...; not deepseek or
     * qwen2): " ?" " !" " ." " ," lose the space, " ' " becomes "'", " 's"
     * " 'm" " 're" " 've" lose the space.  Output then matches llama.cpp's
     * llama_detokenize(); the round trip is no longer exact. */
    JOULE_DETOKENIZE_CLEAN_SPACES = 1u << 2,
};

struct joule_tokenizer;

/* Load the vocabulary of the GGUF file at path.  JOULE_ERR_FORMAT (a bad
 * file, or an unsupported tokenizer, named in err), JOULE_ERR_IO,
 * JOULE_ERR_NOMEM.  The tokenizer is immutable: any number of threads may
 * use it at once.  Close with joule_tokenizer_close (NULL is a no-op). */
JOULE_API enum joule_status joule_tokenizer_open(const char *path, struct joule_tokenizer **out,
                                                 char *err, size_t err_size);
JOULE_API void joule_tokenizer_close(struct joule_tokenizer *t);

/* Tokens in the vocabulary. */
JOULE_API size_t joule_tokenizer_n_vocab(const struct joule_tokenizer *t);

/* Encode len bytes of UTF-8 text into ids[0..cap) (flags: enum
 * joule_tokenize_flags); *n gets the count.  When cap is too small:
 * JOULE_ERR_INVALID with *n the count needed. */
JOULE_API enum joule_status joule_tokenizer_encode(const struct joule_tokenizer *t,
                                                   const char *text, size_t len, unsigned flags,
                                                   int32_t *ids, size_t cap, size_t *n);

/* Decode ids into out[0..cap) (flags: enum joule_detokenize_flags), not
 * NUL-terminated; *len gets the bytes.  Too small: JOULE_ERR_INVALID with
 * *len the bytes needed.  An id out of range: JOULE_ERR_INVALID. */
JOULE_API enum joule_status joule_tokenizer_decode(const struct joule_tokenizer *t,
                                                   const int32_t *ids, size_t n, unsigned flags,
                                                   char *out, size_t cap, size_t *len);

/* The stored text of token id (*len bytes, not NUL-terminated, borrowed
 * until close), or NULL when id is out of range. */
JOULE_API const char *joule_tokenizer_piece(const struct joule_tokenizer *t, int32_t id,
                                            size_t *len);


/* ---------------------------------------------------------------------------
 * The built-in inference engine: load a GGUF model (llama, qwen2, phi3),
 * submit requests, step, collect per-request accounting.  See docs/api.md
 * and docs/internals/engine.md.
 *
 * An engine runs up to n_seq requests at once.  Each joule_engine_step() is
 * one forward pass of either phase, never both:
 *  - PREFILL: prompt tokens of the requests being admitted (chunks of up to
 *    n_batch tokens; a long prompt spans several steps);
 *  - DECODE: one token for every request that is generating, in lockstep,
 *    so one read of the weights serves the whole batch.
 * The on_phase hook runs just before and just after each step: a meter
 * window wrapped around it measures that phase alone, which is how input
 * and output tokens get their own energy.  Finished requests leave the
 * batch; queued ones join at the next step boundary.
 *
 * An engine is driven by one thread at a time; it owns its thread pool
 * (n_threads, the caller's thread included) and starts no other threads.
 */

struct joule_engine;

struct joule_engine_params {
    int32_t n_threads;  /* threads, the caller's included; 0: physical cores */
    int32_t n_seq;      /* requests running at once (the batch size); default 1 */
    int32_t n_ctx;      /* positions per request (prompt + output); 0: 2048, at
                           most the model's training context */
    int32_t n_batch;    /* tokens per prefill step; default 512 */
    int kv_f32;         /* non-zero: F32 KV cache (default F16, as llama.cpp) */
    const char *isa;    /* kernels: NULL or "auto" (the best the CPU has),
                           "avx512", "avx2", "scalar" */
    /* LLM.int8 mode for Q8_0 weights (a file made with `joule quantize
     * --type int8`), as bitsandbytes' load_in_8bit: activation columns with
     * a value of magnitude >= int8_threshold are multiplied in 16-bit, the
     * rest in INT8 (docs/internals/engine.md).  0: pure INT8; < 0 (the
     * default): off, activations meet Q8_0 weights as Q8_0 blocks, as in
     * llama.cpp.  JOULE_ERR_INVALID on a model without Q8_0 weights. */
    float int8_threshold;
};

/* Fills *p with the defaults above. */
JOULE_API void joule_engine_default_params(struct joule_engine_params *p);

/* Loads the model at path and prepares n_seq run slots.  JOULE_ERR_IO,
 * JOULE_ERR_FORMAT (a malformed file, a missing or misshapen tensor),
 * JOULE_ERR_UNSUPPORTED (architecture, weight type), JOULE_ERR_INVALID (a
 * parameter), JOULE_ERR_NOMEM, JOULE_ERR_THREAD; the message, naming the
 * file, is in err[err_size].  Close with joule_engine_close. */
JOULE_API enum joule_status joule_engine_open(const char *path,
                                              const struct joule_engine_params *p,
                                              struct joule_engine **out, char *err,
                                              size_t err_size);
JOULE_API void joule_engine_close(struct joule_engine *e);

struct joule_engine_info {
    const char *arch;        /* "llama", "qwen2", "phi3" */
    const char *weight_type; /* type of most weights ("Q4_0") */
    const char *isa;         /* kernels in use ("avx512") */
    const char *kv_type;     /* "f16" or "f32" */
    int64_t n_params;        /* parameters */
    int64_t model_bytes;     /* bytes of the tensors (mapped, not copied) */
    int64_t state_bytes;     /* KV cache and scratch */
    int32_t n_vocab, n_ctx_train, n_layer, n_embd;
    int32_t n_threads, n_seq, n_ctx, n_batch;
    const char *chat_template; /* recognised family ("chatml"), or NULL */
    float int8_threshold;      /* as opened; < 0: the int8 mode is off */
    int64_t int8_columns;      /* input columns of its INT8 products so far */
    int64_t int8_outliers;     /* of which outliers, multiplied in 16-bit */
};

/* Describes e (strings borrowed from e). */
JOULE_API void joule_engine_get_info(const struct joule_engine *e, struct joule_engine_info *out);

/* The engine's tokenizer (borrowed from e: do not close it). */
JOULE_API const struct joule_tokenizer *joule_engine_tokenizer(const struct joule_engine *e);

/* Sampling.  temperature 0 is greedy (the lowest id wins a tie). */
struct joule_sampling {
    float temperature;     /* 0: greedy; default 0 */
    int32_t top_k;         /* 0: off */
    float top_p;           /* 1: off */
    float min_p;           /* 0: off */
    float repeat_penalty;  /* 1: off */
    int32_t repeat_last_n; /* tokens the penalty looks back on; default 64 */
    uint64_t seed;         /* draws are reproducible for a seed; default 42 */
};

JOULE_API void joule_sampling_default(struct joule_sampling *s);

#define JOULE_MAX_STOP 8 /* stop strings per request */

struct joule_request {
    const char *prompt;      /* UTF-8 text (copied at submit) */
    size_t prompt_len;
    int chat;                /* non-zero: wrap the prompt as a user message in the
                                model's chat template (JOULE_ERR_UNSUPPORTED if it has
                                none and chat_template is NULL) */
    const char *chat_template; /* override the family ("chatml", ...), or NULL */
    const char *system;      /* system message with chat, or NULL */
    const int32_t *tokens;   /* a prompt already tokenized (copied at submit): used
                                instead of prompt, chat and system when n_tokens > 0,
                                so tokenizing can happen before a measured window */
    size_t n_tokens;
    int32_t max_tokens;      /* output tokens at most (>= 1); default 128 */
    int ignore_eos;          /* non-zero: go on past end-of-generation tokens */
    const char *stop[JOULE_MAX_STOP]; /* stop strings (NULL-terminated list), copied */
    struct joule_sampling sampling;
    void *user;              /* handed back in results and callbacks */
};

/* Defaults: no prompt, no chat, max_tokens 128, greedy, no stop strings. */
JOULE_API void joule_request_default(struct joule_request *r);

enum joule_finish {
    JOULE_FINISH_NONE = 0,   /* still running */
    JOULE_FINISH_EOS = 1,    /* an end-of-generation token */
    JOULE_FINISH_LENGTH = 2, /* max_tokens, or the context was full */
    JOULE_FINISH_STOP = 3,   /* a stop string (cut from the text) */
    JOULE_FINISH_CANCELLED = 4,
};

/* "running", "eos", "length", "stop", "cancelled". */
JOULE_API const char *joule_finish_str(enum joule_finish f);

/* What one request cost, from the engine's clock (seconds, monotonic). */
struct joule_request_result {
    uint64_t id;
    void *user;
    enum joule_finish finish;
    int32_t n_input;        /* prompt tokens, never padding */
    int32_t n_output;       /* tokens generated, the end-of-generation one included */
    double t_submit;        /* clock times */
    double t_admit;         /* left the queue for a slot */
    double t_first_token;
    double t_done;
    double queue_s;         /* t_admit - t_submit */
    double prefill_s;       /* start of its first prefill step .. end of its last */
    double ttft_s;          /* t_first_token - t_submit */
    double decode_s;        /* t_first_token .. t_done */
    double total_s;         /* t_done - t_submit */
    const double *itl_s;    /* [n_output - 1] inter-token latencies */
    const int32_t *tokens;  /* [n_output] generated ids */
    const char *text;       /* generated text (stop string cut), NUL-terminated */
    size_t text_len;
};

enum joule_phase {
    JOULE_PHASE_PREFILL = 1,
    JOULE_PHASE_DECODE = 2,
};

/* One step of the engine. */
struct joule_step_info {
    enum joule_phase phase;
    uint64_t step;          /* steps so far, from 0 */
    int32_t n_tokens;       /* tokens in the forward pass */
    int32_t n_requests;     /* requests in it */
    const uint64_t *ids;    /* [n_requests] their ids */
    const int32_t *tokens_of; /* [n_requests] tokens each contributed */
    double t_begin, t_end;  /* t_end is NAN in the "begin" call */
};

struct joule_engine_callbacks {
    /* Before (begin != 0) and after each step: wrap meter windows here. */
    void (*on_phase)(void *user, int begin, const struct joule_step_info *step);
    /* Text of a request as it is generated (complete UTF-8 only, stop strings
     * held back until they can no longer match). */
    void (*on_text)(void *user, uint64_t id, void *req_user, const char *text, size_t len);
    /* A request finished: r and everything it points to are borrowed for the call. */
    void (*on_done)(void *user, const struct joule_request_result *r);
    void *user;
};

/* Sets the callbacks (copied); NULL clears them. */
JOULE_API void joule_engine_set_callbacks(struct joule_engine *e,
                                          const struct joule_engine_callbacks *cb);

/* Tokenizes and queues a request; its id goes to *id.  JOULE_ERR_INVALID (an
 * empty prompt, max_tokens < 1, bad sampling values, a prompt longer than
 * n_ctx tokens), JOULE_ERR_UNSUPPORTED (chat without a template),
 * JOULE_ERR_NOMEM; message in err[err_size].  A request's first output
 * token comes from the logits of its last prefill step; decode steps carry
 * the other n_output - 1. */
JOULE_API enum joule_status joule_engine_submit(struct joule_engine *e,
                                                const struct joule_request *r, uint64_t *id,
                                                char *err, size_t err_size);

/* Runs one step (see above).  *ran is 1 when a step ran, 0 when nothing was
 * queued or running.  Finished requests are reported through on_done during
 * the call.  Errors (JOULE_ERR_NOMEM) leave the engine usable. */
JOULE_API enum joule_status joule_engine_step(struct joule_engine *e, int *ran, char *err,
                                              size_t err_size);

/* Steps until every request has finished. */
JOULE_API enum joule_status joule_engine_run(struct joule_engine *e, char *err,
                                             size_t err_size);

/* Requests queued or running. */
JOULE_API int32_t joule_engine_pending(const struct joule_engine *e);

/* Cancels request id (queued or running): it finishes with
 * JOULE_FINISH_CANCELLED at the next step.  JOULE_ERR_NOT_FOUND if unknown
 * or finished. */
JOULE_API enum joule_status joule_engine_cancel(struct joule_engine *e, uint64_t id);

/* Scores a text the model is given rather than one it writes, for
 * perplexity and multiple-choice accuracy: the log-probability (natural
 * log) of each of tokens[n_context .. n) given every token before it.
 * logprob[i - n_context] (when logprob is not NULL) gets
 * ln p(tokens[i] | tokens[0 .. i)), *sum their sum, *n_top (when not NULL)
 * how many of them were the model's most likely token.  n_context >= 1
 * (the first token has no prediction); n <= n_ctx.  The engine must be
 * idle (JOULE_ERR_STATE while requests are pending); it stays usable.
 * JOULE_ERR_INVALID for bad sizes or token ids. */
JOULE_API enum joule_status joule_engine_score(struct joule_engine *e, const int32_t *tokens,
                                               size_t n, size_t n_context, double *logprob,
                                               double *sum, size_t *n_top, char *err,
                                               size_t err_size);

/* The engine's clock: monotonic seconds, the time base of the results. */
JOULE_API double joule_engine_now(const struct joule_engine *e);

/* Frees memory the library allocated and handed over (YAML text, exports). */
JOULE_API void joule_free(void *p);

/* ---------------------------------------------------------------------------
 * Serving: an OpenAI-compatible HTTP server on an engine, with the energy of
 * each request (docs/cli/joule-serve.md; the attribution rule is in
 * docs/methodology.md, "Serving: energy per request").
 *
 * joule_server_open() binds the socket and starts libmicrohttpd's threads
 * (one listening thread and one thread per connection); they only parse,
 * queue and answer.  joule_server_run() drives the engine on the calling
 * thread, the only one that touches the engine while the server lives:
 * queued requests join the running batch at step boundaries.
 */

struct joule_server;

struct joule_server_params {
    const char *host;        /* address to bind (numeric or a name); default "127.0.0.1" */
    uint16_t port;           /* 0: a free port, read it with joule_server_port */
    const char *api_key;     /* non-NULL, non-empty: every endpoint but /health needs
                                "Authorization: Bearer KEY" */
    int insecure;            /* non-zero: allow a non-loopback host without a key */
    const char *model_name;  /* the id in /v1/models and in responses; NULL: "joule" */
    const char *chat_template; /* chat family for /v1/chat/completions ("chatml"); NULL:
                                  the model's own */
    size_t max_body_bytes;   /* request bodies above it get 413; default 1 MiB */
    int32_t max_tokens;      /* most output tokens a request may ask for (400 above);
                                also the default when it asks for none; default 512 */
    double timeout_s;        /* per request, queue included: cancelled after it (504);
                                default 600 */
    int32_t max_queue;       /* requests waiting beyond the running batch (429 above);
                                default 64 */
    double grace_s;          /* at stop: running requests get this long to finish
                                before they are cancelled; default 10 */
};

/* Fills *p with the defaults above. */
JOULE_API void joule_server_default_params(struct joule_server_params *p);

/* Binds host:port and starts answering HTTP (requests wait until
 * joule_server_run).  e and m are borrowed until joule_server_close; m may
 * be NULL (no energy: provenance "unavailable").  The engine's callbacks
 * are replaced.  JOULE_ERR_INVALID (a bad host, a non-loopback host without
 * a key and without insecure), JOULE_ERR_IO (the address is in use),
 * JOULE_ERR_THREAD, JOULE_ERR_NOMEM; the message in err. */
JOULE_API enum joule_status joule_server_open(struct joule_engine *e, struct joule_meter *m,
                                              const struct joule_server_params *p,
                                              struct joule_server **out, char *err,
                                              size_t err_size);

/* The port bound (the real one when 0 was asked for). */
JOULE_API uint16_t joule_server_port(const struct joule_server *s);

/* Drives the engine on the calling thread until *stop becomes non-zero (a
 * signal handler may set it): then new requests get 503, running ones get
 * grace_s to finish and are cancelled after it, and the call returns
 * JOULE_OK once none is left.  An engine error fails the requests it hit
 * (500) and serving goes on. */
JOULE_API enum joule_status joule_server_run(struct joule_server *s, volatile int *stop,
                                             char *err, size_t err_size);

/* Totals since the server opened. */
struct joule_server_stats {
    int64_t http_requests;       /* HTTP requests answered, every endpoint */
    int64_t completions;         /* completion requests finished by the engine */
    int64_t errors;              /* answers with a status >= 400 */
    int64_t prompt_tokens, completion_tokens;
    int64_t steps;               /* engine steps */
    double busy_s;               /* time inside engine steps */
    double energy_j;             /* energy of the steps, total of the domains; NAN: none */
    enum joule_provenance provenance; /* the weakest provenance summed */
    int32_t max_batch;           /* most requests seen in one decode step */
};

JOULE_API void joule_server_get_stats(struct joule_server *s, struct joule_server_stats *out);

/* Stops the HTTP threads (open connections are closed) and frees s.  Call
 * it after joule_server_run has returned.  NULL is a no-op. */
JOULE_API void joule_server_close(struct joule_server *s);

/* ---------------------------------------------------------------------------
 * Experiment configs: YAML files, presets, overrides.  See docs/config.md
 * for every key.  Precedence: CLI flags > config file > preset > defaults.
 * Keys are dotted paths: "batch_size", "decoding.temperature",
 * "dataset.name", "protocol.cycles".
 */

struct joule_config;

/* A config holding the defaults. */
JOULE_API enum joule_status joule_config_new(struct joule_config **out);
JOULE_API void joule_config_free(struct joule_config *c);
JOULE_API enum joule_status joule_config_copy(const struct joule_config *c,
                                              struct joule_config **out);

/* Resets c to the defaults, applies the preset (the argument, else the
 * file's `preset:` key, else none), then every key of the YAML file at path
 * (NULL: the preset alone).  Strict: an unknown key or a bad value gives
 * JOULE_ERR_FORMAT and "FILE:LINE:COLUMN: what is wrong (allowed: ...)"
 * with "did you mean ...?" for near misses; JOULE_ERR_IO when the file cannot
 * be read; JOULE_ERR_NOT_FOUND for an unknown preset. */
JOULE_API enum joule_status joule_config_load(struct joule_config *c, const char *path,
                                              const char *preset, char *err, size_t err_size);

/* As joule_config_load, from len bytes of YAML text; name is used in
 * messages in place of the file name. */
JOULE_API enum joule_status joule_config_parse(struct joule_config *c, const char *name,
                                               const char *text, size_t len,
                                               const char *preset, char *err,
                                               size_t err_size);

/* Sets one key from its text form, with the validation of the file
 * ("batch_size", "8").  JOULE_ERR_NOT_FOUND (unknown key, with "did you
 * mean"), JOULE_ERR_INVALID (bad value, with the allowed values). */
JOULE_API enum joule_status joule_config_set(struct joule_config *c, const char *key,
                                             const char *value, char *err, size_t err_size);

/* The text form of key's value into buf[size] ("" for an unset string).
 * JOULE_ERR_NOT_FOUND for an unknown key. */
JOULE_API enum joule_status joule_config_get(const struct joule_config *c, const char *key,
                                             char *buf, size_t size);

/* Checks that need several keys (a model is given, the dataset is set, the
 * context holds max_input_tokens + max_output_tokens ...). */
JOULE_API enum joule_status joule_config_validate(const struct joule_config *c, char *err,
                                                  size_t err_size);

/* Every key in canonical YAML (with a comment per key when with_comments),
 * NUL-terminated, into *out (free with joule_free).  Loading it gives the
 * same config: it is what results store and what the config hash covers. */
JOULE_API enum joule_status joule_config_to_yaml(const struct joule_config *c,
                                                 int with_comments, char **out);

/* The keys, for help texts and docs. */
struct joule_config_key {
    const char *key;     /* "decoding.temperature" */
    const char *type;    /* "int", "number", "string", "bool", "enum", "list" */
    const char *allowed; /* "1..1024", "f32|f16|...", "" */
    const char *def;     /* default, text form */
    const char *help;    /* one line */
};

/* Key i (0, 1, ...), NULL past the last. */
JOULE_API const struct joule_config_key *joule_config_key_at(size_t i);

/* Preset i (0, 1, ...) and its one-line summary; NULL past the last. */
JOULE_API const char *joule_preset_name(size_t i, const char **summary);

/* ---------------------------------------------------------------------------
 * Datasets: the prompts of an experiment.  Built-in sets written by the
 * project, or files (JSONL, JSON, CSV, TXT) in the formats users have.  See
 * docs/cli/joule-datasets.md.
 */

struct joule_dataset;

/* One prompt.  Strings are owned by the dataset; absent ones are NULL. */
struct joule_sample {
    const char *id;          /* the record's id field, or "LINE" / "INDEX" */
    const char *prompt;      /* the text given to the model (fields assembled
                                as the format says) */
    const char *input;       /* the raw input without any instruction (the
                                document, the question), for prompt templates */
    const char *reference;   /* the expected output (summary, answer), or NULL */
    const char *answer;      /* the short answer to score (gsm8k's "####" part,
                                MMLU's letter), or NULL */
    const char *system;      /* a system message (ShareGPT), or NULL */
    const char *const *choices; /* multiple choice options, or NULL */
    int32_t n_choices;
    int32_t correct;         /* index of the right choice, -1 when none */
    uint32_t line;           /* 1-based line (record index for JSON arrays) in the
                                file; 0 for built-ins */
};

struct joule_dataset_params {
    const char *source;  /* a built-in name ("summaries") or a file path */
    const char *format;  /* NULL or "auto" (from the file name and the fields),
                            "prompt", "doc-ref", "alpaca", "dolly", "gsm8k",
                            "mmlu", "sharegpt", "txt" */
    int32_t sample_size; /* 0: all */
    int shuffle;         /* non-zero: seeded shuffle before sampling */
    uint64_t seed;
    int skip_bad;        /* non-zero: skip malformed records and count them */
};

/* Defaults: no source, format auto, all samples, no shuffle, seed 42. */
JOULE_API struct joule_dataset_params joule_dataset_default_params(void);

/* Loads the dataset.  A malformed record: JOULE_ERR_FORMAT with
 * "FILE:LINE: what is wrong (expected ...)" unless skip_bad; JOULE_ERR_IO;
 * JOULE_ERR_NOT_FOUND for a name that is neither built-in nor a file (the
 * message lists the built-ins); JOULE_ERR_INVALID for an empty result. */
JOULE_API enum joule_status joule_dataset_load(const struct joule_dataset_params *p,
                                               struct joule_dataset **out, char *err,
                                               size_t err_size);
JOULE_API void joule_dataset_free(struct joule_dataset *d);
JOULE_API size_t joule_dataset_count(const struct joule_dataset *d);
JOULE_API const struct joule_sample *joule_dataset_get(const struct joule_dataset *d, size_t i);
/* Records skipped as malformed (skip_bad). */
JOULE_API size_t joule_dataset_skipped(const struct joule_dataset *d);
/* The format used ("alpaca"), and the source as given. */
JOULE_API const char *joule_dataset_format(const struct joule_dataset *d);
JOULE_API const char *joule_dataset_source(const struct joule_dataset *d);

/* Built-in dataset i (0, 1, ...) and its one-line summary; NULL past the
 * last. */
JOULE_API const char *joule_dataset_builtin(size_t i, const char **summary);

/* ---------------------------------------------------------------------------
 * Accuracy: the tasks of `joule eval` (docs/cli/joule-eval.md) run on an
 * engine, so accuracy can stand next to energy for the same model file.
 * Generation is greedy.  The calls replace the engine's callbacks and
 * clear them when they return; the engine must be idle.
 */

enum joule_eval_task {
    JOULE_EVAL_PPL = 0,     /* perplexity of a text, by sliding windows */
    JOULE_EVAL_MC = 1,      /* multiple choice: the option letter of highest likelihood */
    JOULE_EVAL_EXACT = 2,   /* the generated answer equals the sample's (normalized) */
    JOULE_EVAL_NUMERIC = 3, /* the generated number equals the sample's number */
    JOULE_EVAL_ROUGE = 4,   /* ROUGE-1/2/L F1 of the generated text against the reference */
};

/* "ppl", "mc", "exact", "numeric", "rouge". */
JOULE_API const char *joule_eval_task_name(enum joule_eval_task t);
/* The task named name; JOULE_ERR_NOT_FOUND. */
JOULE_API enum joule_status joule_eval_task_parse(const char *name, enum joule_eval_task *out);

struct joule_eval_params {
    enum joule_eval_task task;
    int32_t max_tokens;  /* tokens generated per sample (exact, numeric, rouge) */
    int stem;            /* ROUGE: Porter stemming of tokens longer than 3 letters */
    int32_t window;      /* ppl: tokens per window; 0: the engine's n_ctx */
    int32_t stride;      /* ppl: tokens a window advances; 0: half the window */
};

/* Defaults for task t: max_tokens 32 (exact), 256 (numeric), 128 (rouge);
 * no stemming; window and stride 0. */
JOULE_API struct joule_eval_params joule_eval_default_params(enum joule_eval_task t);

struct joule_eval_result {
    enum joule_eval_task task;
    double score;        /* accuracy 0..1 (mc, exact, numeric), perplexity (ppl),
                            mean ROUGE-L F1 (rouge) */
    double rouge1, rouge2, rougeL; /* mean F1 (rouge), else NAN */
    int64_t n;           /* samples scored; ppl: tokens scored */
    int64_t n_correct;   /* mc, exact, numeric */
    double nll;          /* ppl: mean negative log-likelihood per token, nats */
    int64_t n_windows;   /* ppl */
    int64_t n_generated; /* tokens generated (exact, numeric, rouge) */
};

/* One sample's outcome, for per-sample output (borrowed for the call). */
struct joule_eval_sample {
    size_t index;        /* in the dataset */
    const char *id;
    double score;        /* 1 or 0, or the sample's ROUGE-L F1 */
    int32_t choice;      /* mc: the option chosen; else -1 */
    const char *output;  /* generated text, or NULL (mc) */
};
typedef void (*joule_eval_sample_fn)(void *user, const struct joule_eval_sample *s);

/* Scores the samples of d.  Each needs what its task reads: choices (mc),
 * an answer (exact, numeric), a reference (rouge); the first sample without
 * it gives JOULE_ERR_INVALID naming it.  Generations run up to the
 * engine's n_seq at a time.  on_sample may be NULL. */
JOULE_API enum joule_status joule_eval_dataset(struct joule_engine *e,
                                               const struct joule_dataset *d,
                                               const struct joule_eval_params *p,
                                               joule_eval_sample_fn on_sample, void *user,
                                               struct joule_eval_result *out, char *err,
                                               size_t err_size);

/* Perplexity of text[0 .. len) (tokenized with the model's BOS): windows of
 * p->window tokens advancing by p->stride (at most window - 1: each window
 * keeps one token of context), each token scored once, with at least
 * window - stride tokens of context after the first window. */
JOULE_API enum joule_status joule_eval_perplexity(struct joule_engine *e, const char *text,
                                                  size_t len, const struct joule_eval_params *p,
                                                  struct joule_eval_result *out, char *err,
                                                  size_t err_size);

/* ---------------------------------------------------------------------------
 * Tables: what queries of the results store return, for printing as text,
 * CSV or JSON.  Cells are numbers or text; a missing value is an empty
 * text cell (JSON null).
 */

struct joule_table;

JOULE_API void joule_table_free(struct joule_table *t);
JOULE_API size_t joule_table_rows(const struct joule_table *t);
JOULE_API size_t joule_table_cols(const struct joule_table *t);
JOULE_API const char *joule_table_col_name(const struct joule_table *t, size_t col);
/* 1 when cell (row, col) is a number (NAN counts as missing: 0). */
JOULE_API int joule_table_is_number(const struct joule_table *t, size_t row, size_t col);
JOULE_API double joule_table_number(const struct joule_table *t, size_t row, size_t col);
/* The text of a cell; numbers in a short round-trip form ("0.0125"). */
JOULE_API const char *joule_table_text(const struct joule_table *t, size_t row, size_t col);

/* ---------------------------------------------------------------------------
 * Results store: the database of experiments, an SQLite file or a PostgreSQL
 * database (docs/cli/joule-results.md, docs/internals/store-schema.md).
 */

struct joule_store;

/* Opens (creating the folder and the file when missing) and migrates the
 * database at path: an SQLite file, or a PostgreSQL database named by a
 * postgresql:// (postgres://) URL or a libpq "host=... dbname=..." string;
 * NULL: $JOULE_DB, else joule-results/joule.db.  A database from a newer
 * joule: JOULE_ERR_UNSUPPORTED; not a joule database: JOULE_ERR_FORMAT.
 * joule_store_path and messages name it without its password. */
JOULE_API enum joule_status joule_store_open(const char *path, struct joule_store **out,
                                             char *err, size_t err_size);
JOULE_API void joule_store_close(struct joule_store *s);
/* 1 when target names a database server (PostgreSQL) rather than a file. */
JOULE_API int joule_store_is_server(const char *target);
JOULE_API const char *joule_store_path(const struct joule_store *s);
JOULE_API const char *joule_store_errmsg(const struct joule_store *s);

enum joule_query {
    JOULE_QUERY_EXPERIMENTS = 0, /* one row per experiment (id ignored) */
    JOULE_QUERY_SUMMARY = 1,     /* one row per metric: mean, std, ci95, cv, min, max, n */
    JOULE_QUERY_CYCLES = 2,      /* one row per cycle, one column per metric */
    JOULE_QUERY_REQUESTS = 3,    /* one row per request of every cycle */
    JOULE_QUERY_DOMAINS = 4,     /* one row per cycle, window and energy domain */
    JOULE_QUERY_EXPORT = 5,      /* one row: the experiment flattened, with the
                                    column names of the seed tools */
    JOULE_QUERY_INFO = 6,        /* rows of (field, value): config, environment,
                                    status, flags */
    JOULE_QUERY_EVALS = 7,       /* accuracy scores of experiment id; id 0: every
                                    score, standalone ones included */
    JOULE_QUERY_TUNE = 9,        /* prompt tunings (joule tune): id 0, one row per
                                    tuning; id > 0, the trials of tuning id */
    JOULE_QUERY_TIMELINE = 8,    /* stored power samples (outputs.timeline): cycle,
                                    t_s, domain, power_w, in time order */
};

/* Runs a query about experiment id into a new table (free it). */
JOULE_API enum joule_status joule_store_query(struct joule_store *s, enum joule_query q,
                                              int64_t id, struct joule_table **out);

/* Metrics of experiments a and b side by side: metric, a, b, b - a, ratio,
 * and whether the 95% intervals overlap. */
JOULE_API enum joule_status joule_store_compare(struct joule_store *s, int64_t a, int64_t b,
                                                struct joule_table **out);

/* An accuracy score to keep (strings borrowed for the call). */
struct joule_store_eval {
    int64_t experiment_id;   /* the experiment whose model file was scored; 0: none */
    const char *model_path, *model_digest, *weight_type;
    const char *task;        /* joule_eval_task_name(result.task) */
    const char *dataset;     /* the data scored ("arithmetic (32 samples)") */
    const char *params;      /* the task's settings, text (JSON) */
    struct joule_eval_result result;
};

/* Stores a score; *id (when not NULL) gets its id.  JOULE_ERR_NOT_FOUND for
 * an experiment_id that does not exist. */
JOULE_API enum joule_status joule_store_eval_add(struct joule_store *s,
                                                 const struct joule_store_eval *e, int64_t *id);

/* Deletes experiment id and all its rows.  JOULE_ERR_NOT_FOUND. */
JOULE_API enum joule_status joule_store_remove(struct joule_store *s, int64_t id);

/* What joule_store_push copied. */
struct joule_push_counts {
    int64_t experiments; /* experiments added, or completed with cycles they lacked */
    int64_t cycles;      /* cycles added */
    int64_t already;     /* experiments the destination had whole */
    int64_t groups;      /* sweeps and compares added */
    int64_t tunings;     /* prompt tunings added */
    int64_t evals;       /* accuracy scores without an experiment added */
};

/* Merges the results of from into to (late aggregation: results gathered
 * offline into one database): the experiments to lacks, matched by their
 * uid, with their cycles, metrics, domains, requests, power samples and
 * scores; the cycles to lacks of experiments it has (a run finished after
 * an earlier push); sweeps and compares (by uid), tunings (by trials
 * file) and standalone scores (by time and task) it lacks.  Ids are new in
 * to.  One transaction per experiment, so pushing again, or two pushes at
 * once, never duplicate anything.  Errors carry their message in
 * joule_store_errmsg(to). */
JOULE_API enum joule_status joule_store_push(struct joule_store *from, struct joule_store *to,
                                             struct joule_push_counts *n);

/* ---------------------------------------------------------------------------
 * Experiments: the measurement protocol of docs/methodology.md run on a
 * config, its results written to a store.
 */

/* What an experiment is doing, for progress displays. */
struct joule_progress {
    const char *stage;   /* "load", "quantize", "tokenize", "idle", "warmup",
                            "cycle", "cooldown", "done" */
    int32_t cycle;       /* 1-based cycle, 0 outside cycles */
    int32_t n_cycles;
    int64_t done;        /* requests done in this stage */
    int64_t total;       /* requests in this stage (0: not counted) */
    double elapsed_s;    /* since the experiment started */
    const char *message; /* "", or a note worth showing ("window too short") */
};

struct joule_run_options {
    int64_t resume_id;   /* > 0: continue this experiment's missing cycles */
    int fresh;           /* non-zero: never resume an incomplete experiment
                            with the same config */
    /* Non-zero: when a completed experiment has the same config and the same
     * model file (SHA-256), return its id and measure nothing (sweeps re-run
     * after an interruption); *reused, when given, is set to 1 then. */
    int skip_completed;
    int *reused;
    /* Set to non-zero (from a signal handler) to stop: the current window
     * closes, completed cycles stay, the experiment becomes "interrupted". */
    volatile int *stop;
    void (*on_progress)(void *user, const struct joule_progress *p);
    void *user;
    /* One experiment on several nodes (docs/scale-out.md): nodes > 1 with a
     * join_key every node shares.  Rank 0 (the lead) runs the workload and
     * the experiment; every other rank only measures its own devices over
     * the lead's windows, through the shared store.  node names this node
     * in the results; node_timeout_s bounds every wait for another node. */
    int32_t nodes;
    const char *join_key;
    int32_t rank;
    const char *node;
    double node_timeout_s;
};

/* The model file of a model argument: spec itself, or for
 * "synth:SHAPE[:TYPE]" (TYPE default q8_0) a random-weight model of that
 * shape, made once under $JOULE_CACHE_DIR (else $XDG_CACHE_HOME/joule, else
 * ~/.cache/joule)/models and reused.  before_making (may be NULL) is called
 * just before a model is made (it can take minutes for large shapes).
 * JOULE_ERR_NOT_FOUND for an unknown shape, with the shapes listed. */
JOULE_API enum joule_status joule_model_resolve(const char *spec, uint32_t n_threads,
                                                void (*before_making)(void *user,
                                                                      const char *path),
                                                void *user, char *path, size_t size, char *err,
                                                size_t err_size);

/* Runs the experiment c into s; *id gets its id as soon as it exists (also
 * on failure and interruption, so the caller can print the resume command;
 * 0 when none was created).  JOULE_OK also for an interrupted run: read its
 * status with JOULE_QUERY_INFO.  Errors carry their message in err. */
JOULE_API enum joule_status joule_experiment_run(const struct joule_config *c,
                                                 struct joule_store *s,
                                                 const struct joule_run_options *o,
                                                 int64_t *id, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif /* JOULE_H */
