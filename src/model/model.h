/*
 * model.h - the model module's API for other modules (layer 1: GGUF files
 * and quantized tensor formats).
 *
 *  - gguf.h: GGUF v2/v3 reader (mmap or buffer, strict validation,
 *    zero-copy views) and v3 writer.
 *  - quant.h: element types, block layouts, fp16/bf16 conversions and the
 *    scalar reference kernels.
 *
 * Other modules include this header, never gguf.h or quant.h directly.
 * Nothing here is in the public API (include/joule.h): the engine and the
 * tools build on it.  Uses only src/common and libc.
 */
#ifndef JOULE_MODEL_H
#define JOULE_MODEL_H

#include "gguf.h"
#include "quant.h"

#endif /* JOULE_MODEL_H */
