/*
 * gguf.h - GGUF v2/v3 reader (mmap or caller's buffer, strict validation,
 * zero-copy views) and writer (v3).
 *
 * Reader: joule_gguf_open_file() maps the file read-only;
 * joule_gguf_open_buffer() reads a caller's buffer (no filesystem: the fuzz
 * target uses it).  Every count, size, offset and string length is checked
 * before it is used; a malformed file gives JOULE_ERR_FORMAT and the message
 * "FILE: offset N: <what is wrong> (expected ...)" where FILE is the path or
 * "<buffer>".  The rules are listed in docs/internals/gguf.md.
 *
 * Views: strings, arrays and tensor data returned by the reader point into
 * the mapping (or the caller's buffer) and are valid until
 * joule_gguf_close().  Strings stored in the file are NOT NUL-terminated
 * (pointer + length); keys and tensor names are, because the reader keeps
 * NUL-terminated copies of them.
 *
 * Threads: an open reader is immutable, so any number of threads may read
 * it at once.  A writer belongs to one thread at a time.
 */
#ifndef JOULE_MODEL_GGUF_H
#define JOULE_MODEL_GGUF_H

#include "joule.h"
#include "quant.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOULE_GGUF_MAX_DIMS 4          /* tensor dimensions */
#define JOULE_GGUF_DEFAULT_ALIGNMENT 32
#define JOULE_GGUF_NAME_MAX 256        /* longest tensor name, bytes, without the NUL */
#define JOULE_GGUF_MAX_DEPTH 8         /* arrays nested at most this deep */

/* Metadata value types, numbered as in the file. */
enum joule_gguf_type {
    JOULE_GGUF_TYPE_UINT8 = 0,
    JOULE_GGUF_TYPE_INT8 = 1,
    JOULE_GGUF_TYPE_UINT16 = 2,
    JOULE_GGUF_TYPE_INT16 = 3,
    JOULE_GGUF_TYPE_UINT32 = 4,
    JOULE_GGUF_TYPE_INT32 = 5,
    JOULE_GGUF_TYPE_FLOAT32 = 6,
    JOULE_GGUF_TYPE_BOOL = 7,
    JOULE_GGUF_TYPE_STRING = 8,
    JOULE_GGUF_TYPE_ARRAY = 9,
    JOULE_GGUF_TYPE_UINT64 = 10,
    JOULE_GGUF_TYPE_INT64 = 11,
    JOULE_GGUF_TYPE_FLOAT64 = 12,
};

#define JOULE_GGUF_TYPE_COUNT 13

/* "u32", "string", "array" ...; "unknown" for other values.  Static. */
const char *joule_gguf_type_name(uint32_t type);

/* Bytes of one value of a fixed-size type (u8 .. f64, bool); 0 for string,
 * array and unknown types. */
size_t joule_gguf_type_size(uint32_t type);

struct joule_gguf;

/*
 * A view of one metadata value.  Filled by the reader; the caller never
 * builds one.  Valid (like everything it points to) until
 * joule_gguf_close() of `g`.
 */
struct joule_gguf_value {
    const struct joule_gguf *g;    /* the reader it belongs to */
    enum joule_gguf_type type;
    enum joule_gguf_type elem_type; /* ARRAY: type of the elements */
    uint64_t n;                    /* ARRAY: elements; STRING: bytes; else 1 */
    const uint8_t *p;              /* payload: value bytes (LE), string bytes, first element */
    size_t index;                  /* ARRAY of STRING/ARRAY: first entry in g's element index */
};

/* One tensor.  Borrowed from the reader: valid until joule_gguf_close(). */
struct joule_gguf_tensor {
    const char *name;                /* NUL-terminated */
    uint32_t n_dims;                 /* 1..4 */
    enum joule_quant_type type;
    int64_t ne[JOULE_GGUF_MAX_DIMS]; /* elements per dimension, ne[0] = row; unused = 1 */
    int64_t n_elements;
    int64_t n_rows;                  /* ne[1] * ne[2] * ne[3]; 0 when ne[0] == 0 */
    size_t row_bytes;                /* bytes of one row of ne[0] elements */
    size_t nbytes;                   /* bytes of the whole tensor */
    uint64_t offset;                 /* from the start of the data section */
    const void *data;                /* nbytes bytes inside the file; NULL when nbytes == 0 */
};

/* ---------------------------------------------------------------------------
 * Reader
 */

/* Map the file at `path` read-only and validate it.  On success *out is a
 * reader the caller closes with joule_gguf_close().  On failure *out is NULL,
 * err[err_size] holds the message (err may be NULL when err_size is 0) and
 * the status is JOULE_ERR_IO (cannot open/map), JOULE_ERR_FORMAT (malformed)
 * or JOULE_ERR_NOMEM.  `path` is borrowed for the call. */
enum joule_status joule_gguf_open_file(const char *path, struct joule_gguf **out, char *err,
                                       size_t err_size);

/* As joule_gguf_open_file() on size bytes at data (messages name the file
 * "<buffer>").  The buffer is borrowed, not copied: it must stay unchanged
 * and alive until joule_gguf_close(*out). */
enum joule_status joule_gguf_open_buffer(const void *data, size_t size, struct joule_gguf **out,
                                         char *err, size_t err_size);

/* Unmap and free.  Every view taken from g dies.  NULL is a no-op. */
void joule_gguf_close(struct joule_gguf *g);

uint32_t joule_gguf_version(const struct joule_gguf *g);      /* 2 or 3 */
size_t joule_gguf_alignment(const struct joule_gguf *g);      /* bytes, a power of two */
size_t joule_gguf_data_offset(const struct joule_gguf *g);    /* file offset of the data section */
size_t joule_gguf_file_size(const struct joule_gguf *g);      /* bytes */
/* Whether the bytes are a private mapping of a file (joule_gguf_open_file),
 * not a caller's buffer: pages of it may then be dropped (madvise) and read
 * again from the file. */
bool joule_gguf_is_file_mapped(const struct joule_gguf *g);

/* Key/value pairs, in file order: count, key i (NUL-terminated, borrowed
 * until close), value i (borrowed until close).  i < count (asserted). */
uint64_t joule_gguf_kv_count(const struct joule_gguf *g);
const char *joule_gguf_key(const struct joule_gguf *g, uint64_t i);
const struct joule_gguf_value *joule_gguf_kv_value(const struct joule_gguf *g, uint64_t i);

/* Index of `key`, or -1 when absent.  `key` is borrowed for the call. */
int64_t joule_gguf_find_key(const struct joule_gguf *g, const char *key);

/* The value of `key` if it has type `type` (for ARRAY, any element type).
 * JOULE_ERR_NOT_FOUND if absent, JOULE_ERR_FORMAT if of another type; both
 * with a message in err ("FILE: key 'k' has type f32 (expected u32)").
 * *out borrows from g until close. */
enum joule_status joule_gguf_get(const struct joule_gguf *g, const char *key,
                                 enum joule_gguf_type type, const struct joule_gguf_value **out,
                                 char *err, size_t err_size);

/* Typed getters by key: JOULE_OK, JOULE_ERR_NOT_FOUND (absent) or
 * JOULE_ERR_FORMAT (other type).  *out is untouched on failure.  Strings:
 * *s borrows from g until close, *len bytes, not NUL-terminated. */
enum joule_status joule_gguf_get_u8(const struct joule_gguf *g, const char *key, uint8_t *out);
enum joule_status joule_gguf_get_i8(const struct joule_gguf *g, const char *key, int8_t *out);
enum joule_status joule_gguf_get_u16(const struct joule_gguf *g, const char *key, uint16_t *out);
enum joule_status joule_gguf_get_i16(const struct joule_gguf *g, const char *key, int16_t *out);
enum joule_status joule_gguf_get_u32(const struct joule_gguf *g, const char *key, uint32_t *out);
enum joule_status joule_gguf_get_i32(const struct joule_gguf *g, const char *key, int32_t *out);
enum joule_status joule_gguf_get_u64(const struct joule_gguf *g, const char *key, uint64_t *out);
enum joule_status joule_gguf_get_i64(const struct joule_gguf *g, const char *key, int64_t *out);
enum joule_status joule_gguf_get_f32(const struct joule_gguf *g, const char *key, float *out);
enum joule_status joule_gguf_get_f64(const struct joule_gguf *g, const char *key, double *out);
enum joule_status joule_gguf_get_bool(const struct joule_gguf *g, const char *key, bool *out);
enum joule_status joule_gguf_get_str(const struct joule_gguf *g, const char *key,
                                     const char **s, size_t *len);

/* Typed reads of one value: JOULE_OK or JOULE_ERR_FORMAT (other type). */
enum joule_status joule_gguf_value_u8(const struct joule_gguf_value *v, uint8_t *out);
enum joule_status joule_gguf_value_i8(const struct joule_gguf_value *v, int8_t *out);
enum joule_status joule_gguf_value_u16(const struct joule_gguf_value *v, uint16_t *out);
enum joule_status joule_gguf_value_i16(const struct joule_gguf_value *v, int16_t *out);
enum joule_status joule_gguf_value_u32(const struct joule_gguf_value *v, uint32_t *out);
enum joule_status joule_gguf_value_i32(const struct joule_gguf_value *v, int32_t *out);
enum joule_status joule_gguf_value_u64(const struct joule_gguf_value *v, uint64_t *out);
enum joule_status joule_gguf_value_i64(const struct joule_gguf_value *v, int64_t *out);
enum joule_status joule_gguf_value_f32(const struct joule_gguf_value *v, float *out);
enum joule_status joule_gguf_value_f64(const struct joule_gguf_value *v, double *out);
enum joule_status joule_gguf_value_bool(const struct joule_gguf_value *v, bool *out);
/* *s borrows from the reader until close; *len bytes; not NUL-terminated. */
enum joule_status joule_gguf_value_str(const struct joule_gguf_value *v, const char **s,
                                       size_t *len);

/* Any integer type whose value is >= 0, as uint64_t (models store counts as
 * u32 or i32 or u64); JOULE_ERR_FORMAT for other types or negative values. */
enum joule_status joule_gguf_value_uint(const struct joule_gguf_value *v, uint64_t *out);
/* Any numeric type (integers, f32, f64) as double; JOULE_ERR_FORMAT otherwise. */
enum joule_status joule_gguf_value_number(const struct joule_gguf_value *v, double *out);

/* Arrays: element count (0 when v is not an array) and element i as a value
 * view (*out filled, borrowing from the reader until close).
 * JOULE_ERR_FORMAT when v is not an array, JOULE_ERR_INVALID when i >= n. */
uint64_t joule_gguf_array_len(const struct joule_gguf_value *v);
enum joule_status joule_gguf_array_get(const struct joule_gguf_value *v, uint64_t i,
                                       struct joule_gguf_value *out);

/* Tensors, in file order.  i < count (asserted).  Borrowed until close. */
uint64_t joule_gguf_tensor_count(const struct joule_gguf *g);
const struct joule_gguf_tensor *joule_gguf_tensor_at(const struct joule_gguf *g, uint64_t i);
/* The tensor named `name`, or NULL.  `name` is borrowed for the call. */
const struct joule_gguf_tensor *joule_gguf_find_tensor(const struct joule_gguf *g,
                                                       const char *name);

/* ---------------------------------------------------------------------------
 * Writer: builds the metadata in memory and writes a v3 file.
 *
 * Setting a value with key != NULL adds a top-level key (JOULE_ERR_INVALID
 * if the key is empty or already set).  Between
 * joule_gguf_writer_begin_array(w, key, elem_type) and
 * joule_gguf_writer_end_array(w), the setters take key == NULL and append
 * one element of the open array (its element type must match, else
 * JOULE_ERR_INVALID); begin_array(w, NULL, t) inside an array of ARRAY
 * starts a nested array.  Calling with a key while an array is open, or
 * with NULL while none is, is JOULE_ERR_STATE.  Every call returns
 * JOULE_ERR_NOMEM when memory runs out; joule_gguf_writer_errmsg() says
 * what was wrong.  Strings passed in are copied.
 *
 * "general.alignment" may be set only as a u32 power of two; the writer
 * then aligns the data section and every tensor to it (default 32).
 */
struct joule_gguf_writer;

/* A new empty writer, closed with joule_gguf_writer_close(). */
enum joule_status joule_gguf_writer_open(struct joule_gguf_writer **out);
/* Free the writer (tensor data is borrowed, so it is not freed).  NULL is a no-op. */
void joule_gguf_writer_close(struct joule_gguf_writer *w);
/* Message of the last failure ("" when none); valid until the next call on w. */
const char *joule_gguf_writer_errmsg(const struct joule_gguf_writer *w);

enum joule_status joule_gguf_writer_set_u8(struct joule_gguf_writer *w, const char *key,
                                           uint8_t v);
enum joule_status joule_gguf_writer_set_i8(struct joule_gguf_writer *w, const char *key,
                                           int8_t v);
enum joule_status joule_gguf_writer_set_u16(struct joule_gguf_writer *w, const char *key,
                                            uint16_t v);
enum joule_status joule_gguf_writer_set_i16(struct joule_gguf_writer *w, const char *key,
                                            int16_t v);
enum joule_status joule_gguf_writer_set_u32(struct joule_gguf_writer *w, const char *key,
                                            uint32_t v);
enum joule_status joule_gguf_writer_set_i32(struct joule_gguf_writer *w, const char *key,
                                            int32_t v);
enum joule_status joule_gguf_writer_set_u64(struct joule_gguf_writer *w, const char *key,
                                            uint64_t v);
enum joule_status joule_gguf_writer_set_i64(struct joule_gguf_writer *w, const char *key,
                                            int64_t v);
enum joule_status joule_gguf_writer_set_f32(struct joule_gguf_writer *w, const char *key,
                                            float v);
enum joule_status joule_gguf_writer_set_f64(struct joule_gguf_writer *w, const char *key,
                                            double v);
enum joule_status joule_gguf_writer_set_bool(struct joule_gguf_writer *w, const char *key,
                                             bool v);
/* A NUL-terminated string, and len bytes at s (may hold any bytes). */
enum joule_status joule_gguf_writer_set_str(struct joule_gguf_writer *w, const char *key,
                                            const char *s);
enum joule_status joule_gguf_writer_set_strn(struct joule_gguf_writer *w, const char *key,
                                             const char *s, size_t len);

/* A whole array of n elements of elem_type: data points to n native values
 * (uint8_t[] .. double[], bool[]) or, for STRING, to n `const char *`
 * NUL-terminated strings.  ARRAY elements need begin/end_array instead. */
enum joule_status joule_gguf_writer_set_array(struct joule_gguf_writer *w, const char *key,
                                              enum joule_gguf_type elem_type, const void *data,
                                              uint64_t n);

/* Copy a value read by a reader (any type, nested arrays included) under
 * `key` (or as the next element of the open array when key is NULL).  v and
 * everything it points to are borrowed for the call only. */
enum joule_status joule_gguf_writer_set_value(struct joule_gguf_writer *w, const char *key,
                                              const struct joule_gguf_value *v);

/* Open / close an array (see above); nesting up to JOULE_GGUF_MAX_DEPTH. */
enum joule_status joule_gguf_writer_begin_array(struct joule_gguf_writer *w, const char *key,
                                                enum joule_gguf_type elem_type);
enum joule_status joule_gguf_writer_end_array(struct joule_gguf_writer *w);

/* Add a tensor: name (1..JOULE_GGUF_NAME_MAX bytes, unique), type with
 * kernels or at least a known layout, n_dims 1..4, ne[n_dims] >= 0 with
 * ne[0] a multiple of the block size, and nbytes equal to the tensor's
 * size.  `data` is borrowed: it must stay valid until the last write call
 * (or close).  JOULE_ERR_INVALID with a message for anything wrong. */
enum joule_status joule_gguf_writer_add_tensor(struct joule_gguf_writer *w, const char *name,
                                               enum joule_quant_type type, uint32_t n_dims,
                                               const int64_t *ne, const void *data,
                                               size_t nbytes);

/* Fills dst with rows first_row .. first_row + n_rows - 1 of a tensor (its
 * ne[0]-element rows, row_size bytes each, encoded in the tensor's type).
 * Called at write time, in row order, on the writer's thread; may use
 * threads of its own.  A status other than JOULE_OK aborts the write. */
typedef enum joule_status (*joule_gguf_produce_fn)(void *ctx, int64_t first_row, int64_t n_rows,
                                                   void *dst);

/* As joule_gguf_writer_add_tensor(), but the data is not in memory: the
 * write calls produce(ctx, ...) for chunks of rows (a few MiB each) and
 * writes them as they come, so a model larger than memory can be written.
 * ctx is borrowed until the last write call. */
enum joule_status joule_gguf_writer_add_tensor_fn(struct joule_gguf_writer *w, const char *name,
                                                  enum joule_quant_type type, uint32_t n_dims,
                                                  const int64_t *ne, joule_gguf_produce_fn produce,
                                                  void *ctx);

/* Write a GGUF v3 file to path atomically (temporary file renamed over
 * path).  JOULE_ERR_STATE if an array is still open, JOULE_ERR_IO with a
 * message in err.  `path` is borrowed for the call. */
enum joule_status joule_gguf_writer_write(struct joule_gguf_writer *w, const char *path,
                                          char *err, size_t err_size);

/* Write the file into a new buffer: *out (malloc'd, the caller frees it with
 * free()) of *size bytes. */
enum joule_status joule_gguf_writer_write_buffer(struct joule_gguf_writer *w, uint8_t **out,
                                                 size_t *size);

#endif /* JOULE_MODEL_GGUF_H */
