/*
 * gguf.c - GGUF v2/v3 reader and v3 writer.
 *
 * The reader trusts nothing: each field is bounds-checked against the bytes
 * left before it is read, each count against what those bytes could hold
 * before anything is allocated, and each size computation goes through the
 * checked helpers of alloc.h.  Validation rules: docs/internals/gguf.md.
 */
#define _POSIX_C_SOURCE 200809L
/*
 * System headers come first here: banned.h (through joule_int.h) defines
 * atoi() as a function-like macro, which breaks glibc's inline definition
 * of atoi in <stdlib.h> when compiling with optimisation.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "alloc.h"
#include "fileio.h"
#include "joule_int.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads little-endian fields with memcpy: port it for big-endian hosts"
#endif

#define GGUF_HEADER_BYTES 24 /* magic, version, n_tensors, n_kv */
#define GGUF_MIN_KV_BYTES 14 /* key length, 1 key byte, type, 1 value byte */
#define GGUF_MIN_TENSOR_BYTES 33 /* name length, 1 byte, n_dims, 1 dim, type, offset */
#define GGUF_SHOWN_NAME 64   /* bytes of a key or name quoted in a message */

static const char *const type_names[JOULE_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

static const uint8_t type_sizes[JOULE_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *joule_gguf_type_name(uint32_t type)
{
    return type < JOULE_GGUF_TYPE_COUNT ? type_names[type] : "unknown";
}

size_t joule_gguf_type_size(uint32_t type)
{
    return type < JOULE_GGUF_TYPE_COUNT ? type_sizes[type] : 0;
}

/* ---------------------------------------------------------------------------
 * Reader state
 */

struct kv_entry {
    const char *key;        /* into g->names, set when parsing is done */
    size_t key_off;         /* offset of the key in g->names */
    size_t file_off;        /* file offset of the key, for messages */
    struct joule_gguf_value val;
};

/* One element of an array whose elements have no fixed size. */
struct elem_ref {
    size_t off;   /* from the array's first element to this one */
    size_t child; /* ARRAY elements: the child's first entry in g->elems */
};

struct joule_gguf {
    const uint8_t *base;
    size_t size;
    void *map; /* mmap'd region (NULL for a caller's buffer) */
    char *label;
    uint32_t version;
    size_t alignment;
    size_t data_off;
    uint64_t n_kv;
    struct kv_entry *kvs;
    uint64_t n_tensors;
    struct joule_gguf_tensor *tensors;
    size_t *tensor_name_off;
    struct elem_ref *elems;
    size_t n_elems;
    size_t cap_elems;
    char *names; /* NUL-terminated keys and tensor names */
    size_t names_len;
    size_t names_cap;
    size_t *kv_slots; /* open-addressing hash: index + 1, 0 = empty */
    size_t kv_mask;
    size_t *t_slots;
    size_t t_mask;
};

struct rd {
    struct joule_gguf *g;
    size_t pos;
    char *err;
    size_t err_size;
};

__attribute__((format(printf, 3, 4))) static enum joule_status fail(struct rd *r, size_t off,
                                                                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    joule_vfmt(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    joule_fmt(r->err, r->err_size, "%s: offset %zu: %s", r->g->label, off, msg);
    return JOULE_ERR_FORMAT;
}

static enum joule_status nomem(struct rd *r)
{
    joule_fmt(r->err, r->err_size, "%s: out of memory while reading", r->g->label);
    return JOULE_ERR_NOMEM;
}

static size_t left(const struct rd *r)
{
    return r->g->size - r->pos;
}

static enum joule_status read_raw(struct rd *r, void *dst, size_t n, const char *what)
{
    if (n > left(r))
        return fail(r, r->pos, "truncated %s: needs %zu bytes, %zu left (expected the file to "
                    "continue)", what, n, left(r));
    memcpy(dst, r->g->base + r->pos, n);
    r->pos += n;
    return JOULE_OK;
}

static enum joule_status read_u32(struct rd *r, uint32_t *v, const char *what)
{
    return read_raw(r, v, sizeof(*v), what);
}

static enum joule_status read_u64(struct rd *r, uint64_t *v, const char *what)
{
    return read_raw(r, v, sizeof(*v), what);
}

/* A length-prefixed string: *p points into the file, *len bytes. */
static enum joule_status read_str(struct rd *r, const char **p, size_t *len, const char *what)
{
    size_t at = r->pos;
    uint64_t n = 0;
    enum joule_status st = read_u64(r, &n, what);
    if (st != JOULE_OK)
        return st;
    if (n > left(r))
        return fail(r, at, "%s length %" PRIu64 " runs past the end of the file (expected at "
                    "most %zu)", what, n, left(r));
    *p = (const char *)r->g->base + r->pos;
    *len = (size_t)n;
    r->pos += (size_t)n;
    return JOULE_OK;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211u;
    }
    return h;
}

/* A table of at least 2n slots (a power of two). */
static bool slots_alloc(size_t n, size_t **slots, size_t *mask)
{
    size_t cap = 16;
    while (cap < n * 2 + 1) {
        if (cap > SIZE_MAX / 4)
            return false;
        cap *= 2;
    }
    *slots = joule_calloc(cap, sizeof(size_t));
    *mask = cap - 1;
    return *slots != NULL;
}

/* Find name (n bytes) among names at the arena offsets given by offs[];
 * returns the index or -1, and the free slot where it would go. */
static int64_t slots_find(const struct joule_gguf *g, const size_t *slots, size_t mask,
                          const size_t *offs, size_t stride, const char *name, size_t n,
                          size_t *free_slot)
{
    size_t i = (size_t)hash_bytes(name, n) & mask;
    while (slots[i] != 0) {
        size_t idx = slots[i] - 1;
        const char *cand = g->names + *(const size_t *)((const char *)offs + idx * stride);
        if (strncmp(cand, name, n) == 0 && cand[n] == '\0')
            return (int64_t)idx;
        i = (i + 1) & mask;
    }
    if (free_slot)
        *free_slot = i;
    return -1;
}

/* Append name (n bytes) and a NUL to the arena; *off gets its offset. */
static bool names_add(struct joule_gguf *g, const char *name, size_t n, size_t *off)
{
    size_t need;
    if (!joule_add_size(g->names_len, n, &need) || !joule_add_size(need, 1, &need))
        return false;
    if (need > g->names_cap) {
        size_t cap;
        if (!joule_grow_cap(g->names_cap, need, 256, &cap))
            return false;
        char *p = realloc(g->names, cap);
        if (!p)
            return false;
        g->names = p;
        g->names_cap = cap;
    }
    memcpy(g->names + g->names_len, name, n);
    g->names[g->names_len + n] = '\0';
    *off = g->names_len;
    g->names_len = need;
    return true;
}

/* Reserve n more element refs; *first gets the index of the first. */
static bool elems_reserve(struct joule_gguf *g, size_t n, size_t *first)
{
    size_t need;
    if (!joule_add_size(g->n_elems, n, &need))
        return false;
    if (need > g->cap_elems) {
        size_t cap;
        if (!joule_grow_cap(g->cap_elems, need, 64, &cap))
            return false;
        struct elem_ref *p = joule_realloc_array(g->elems, cap, sizeof(*p));
        if (!p)
            return false;
        g->elems = p;
        g->cap_elems = cap;
    }
    *first = g->n_elems;
    g->n_elems = need;
    return true;
}

/* ---------------------------------------------------------------------------
 * Parsing
 */

static enum joule_status check_bools(struct rd *r, const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1)
            return fail(r, (size_t)(p + i - r->g->base), "bool value %u (expected 0 or 1)",
                        p[i]);
    return JOULE_OK;
}

static enum joule_status parse_value(struct rd *r, uint32_t type, int depth,
                                     struct joule_gguf_value *v)
{
    struct joule_gguf *g = r->g;
    enum joule_status st;
    memset(v, 0, sizeof(*v));
    v->g = g;
    v->type = (enum joule_gguf_type)type;
    v->n = 1;

    size_t fs = joule_gguf_type_size(type);
    if (fs) {
        if (fs > left(r))
            return fail(r, r->pos, "truncated %s value: needs %zu bytes, %zu left (expected the "
                        "file to continue)", type_names[type], fs, left(r));
        v->p = g->base + r->pos;
        if (type == JOULE_GGUF_TYPE_BOOL && (st = check_bools(r, v->p, 1)) != JOULE_OK)
            return st;
        r->pos += fs;
        return JOULE_OK;
    }
    if (type == JOULE_GGUF_TYPE_STRING) {
        const char *s;
        size_t len;
        if ((st = read_str(r, &s, &len, "string")) != JOULE_OK)
            return st;
        v->p = (const uint8_t *)s;
        v->n = len;
        return JOULE_OK;
    }
    /* ARRAY */
    size_t at = r->pos;
    if (depth >= JOULE_GGUF_MAX_DEPTH)
        return fail(r, at, "arrays nested deeper than %d levels (expected at most %d)",
                    JOULE_GGUF_MAX_DEPTH, JOULE_GGUF_MAX_DEPTH);
    uint32_t et = 0;
    uint64_t n = 0;
    if ((st = read_u32(r, &et, "array element type")) != JOULE_OK)
        return st;
    if (et >= JOULE_GGUF_TYPE_COUNT)
        return fail(r, at, "unknown array element type %" PRIu32 " (expected 0..12)", et);
    if ((st = read_u64(r, &n, "array length")) != JOULE_OK)
        return st;
    size_t efs = joule_gguf_type_size(et);
    size_t min = efs ? efs : (et == JOULE_GGUF_TYPE_STRING ? 8 : 12);
    if (n > left(r) / min)
        return fail(r, at + 4, "array of %" PRIu64 " %s elements runs past the end of the file "
                    "(expected at most %zu)", n, type_names[et], left(r) / min);
    v->elem_type = (enum joule_gguf_type)et;
    v->n = n;
    v->p = g->base + r->pos;
    if (efs) {
        if (et == JOULE_GGUF_TYPE_BOOL && (st = check_bools(r, v->p, n)) != JOULE_OK)
            return st;
        r->pos += (size_t)n * efs; /* n * efs <= left(r): checked above */
        return JOULE_OK;
    }
    size_t first;
    if (!elems_reserve(g, (size_t)n, &first))
        return nomem(r);
    v->index = first;
    for (uint64_t i = 0; i < n; i++) {
        g->elems[first + i].off = r->pos - (size_t)(v->p - g->base);
        g->elems[first + i].child = 0;
        if (et == JOULE_GGUF_TYPE_STRING) {
            const char *s;
            size_t len;
            if ((st = read_str(r, &s, &len, "string")) != JOULE_OK)
                return st;
        } else {
            struct joule_gguf_value child;
            if ((st = parse_value(r, JOULE_GGUF_TYPE_ARRAY, depth + 1, &child)) != JOULE_OK)
                return st;
            g->elems[first + i].child = child.index; /* g->elems may have moved: index again */
        }
    }
    return JOULE_OK;
}

static enum joule_status parse_header(struct rd *r, uint64_t *n_tensors, uint64_t *n_kv)
{
    struct joule_gguf *g = r->g;
    if (g->size < 4)
        return fail(r, 0, "file is %zu bytes, too short for a GGUF header (expected at least %d)",
                    g->size, GGUF_HEADER_BYTES);
    if (memcmp(g->base, "GGUF", 4) != 0)
        return fail(r, 0, "bad magic %02x %02x %02x %02x (expected \"GGUF\")", g->base[0],
                    g->base[1], g->base[2], g->base[3]);
    if (g->size < GGUF_HEADER_BYTES)
        return fail(r, 0, "file is %zu bytes, too short for a GGUF header (expected at least %d)",
                    g->size, GGUF_HEADER_BYTES);
    r->pos = 4;
    uint32_t version = 0;
    (void)read_u32(r, &version, "version");
    if (version == 0x02000000u || version == 0x03000000u)
        return fail(r, 4, "big-endian GGUF (version field %08" PRIx32 ") is not supported "
                    "(expected a little-endian file)", version);
    if (version != 2 && version != 3)
        return fail(r, 4, "unsupported GGUF version %" PRIu32 " (expected 2 or 3)", version);
    g->version = version;
    (void)read_u64(r, n_tensors, "tensor count");
    (void)read_u64(r, n_kv, "key/value count");
    if (*n_tensors > left(r) / GGUF_MIN_TENSOR_BYTES)
        return fail(r, 8, "tensor count %" PRIu64 " is more than the %zu bytes left can hold "
                    "(expected at most %zu)", *n_tensors, left(r),
                    left(r) / GGUF_MIN_TENSOR_BYTES);
    if (*n_kv > left(r) / GGUF_MIN_KV_BYTES)
        return fail(r, 16, "key/value count %" PRIu64 " is more than the %zu bytes left can hold "
                    "(expected at most %zu)", *n_kv, left(r), left(r) / GGUF_MIN_KV_BYTES);
    return JOULE_OK;
}

static enum joule_status parse_kvs(struct rd *r, uint64_t n_kv)
{
    struct joule_gguf *g = r->g;
    enum joule_status st;
    g->kvs = joule_calloc((size_t)n_kv, sizeof(*g->kvs));
    if (!g->kvs || !slots_alloc((size_t)n_kv, &g->kv_slots, &g->kv_mask))
        return nomem(r);
    for (uint64_t i = 0; i < n_kv; i++) {
        struct kv_entry *kv = &g->kvs[i];
        const char *key;
        size_t len, slot = 0;
        kv->file_off = r->pos;
        if ((st = read_str(r, &key, &len, "key")) != JOULE_OK)
            return st;
        if (len == 0)
            return fail(r, kv->file_off, "empty key (expected a non-empty name)");
        if (memchr(key, '\0', len))
            return fail(r, kv->file_off, "key contains a NUL byte (expected a plain name)");
        if (slots_find(g, g->kv_slots, g->kv_mask, &g->kvs[0].key_off, sizeof(*kv), key, len,
                       &slot) >= 0)
            return fail(r, kv->file_off, "duplicate key '%.*s' (expected each key once)",
                        (int)(len < GGUF_SHOWN_NAME ? len : GGUF_SHOWN_NAME), key);
        if (!names_add(g, key, len, &kv->key_off))
            return nomem(r);
        g->kv_slots[slot] = (size_t)i + 1;
        g->n_kv = i + 1; /* the entry is now complete enough to be found */
        size_t tat = r->pos;
        uint32_t type = 0;
        if ((st = read_u32(r, &type, "value type")) != JOULE_OK)
            return st;
        if (type >= JOULE_GGUF_TYPE_COUNT)
            return fail(r, tat, "unknown value type %" PRIu32 " for key '%s' (expected 0..12)",
                        type, g->names + kv->key_off);
        if ((st = parse_value(r, type, 0, &kv->val)) != JOULE_OK)
            return st;
    }
    return JOULE_OK;
}

static enum joule_status parse_alignment(struct rd *r)
{
    struct joule_gguf *g = r->g;
    g->alignment = JOULE_GGUF_DEFAULT_ALIGNMENT;
    size_t len = strlen("general.alignment");
    int64_t i = slots_find(g, g->kv_slots, g->kv_mask, &g->kvs[0].key_off,
                           sizeof(struct kv_entry), "general.alignment", len, NULL);
    if (i < 0)
        return JOULE_OK;
    const struct kv_entry *kv = &g->kvs[i];
    if (kv->val.type != JOULE_GGUF_TYPE_UINT32)
        return fail(r, kv->file_off, "general.alignment has type %s (expected u32)",
                    type_names[kv->val.type]);
    uint32_t a;
    memcpy(&a, kv->val.p, sizeof(a));
    if (a == 0 || (a & (a - 1)) != 0)
        return fail(r, kv->file_off, "general.alignment %" PRIu32 " is not a power of two "
                    "(expected 1, 2, 4, 8, ...)", a);
    g->alignment = a;
    return JOULE_OK;
}

static enum joule_status parse_tensor_info(struct rd *r, uint64_t i, size_t *info_off)
{
    struct joule_gguf *g = r->g;
    struct joule_gguf_tensor *t = &g->tensors[i];
    enum joule_status st;
    const char *name;
    size_t len, slot = 0, at = r->pos;

    if ((st = read_str(r, &name, &len, "tensor name")) != JOULE_OK)
        return st;
    if (len == 0 || len > JOULE_GGUF_NAME_MAX)
        return fail(r, at, "tensor name of %zu bytes (expected 1..%d)", len, JOULE_GGUF_NAME_MAX);
    if (memchr(name, '\0', len))
        return fail(r, at, "tensor name contains a NUL byte (expected a plain name)");
    if (slots_find(g, g->t_slots, g->t_mask, g->tensor_name_off, sizeof(size_t), name, len,
                   &slot) >= 0)
        return fail(r, at, "duplicate tensor name '%.*s' (expected each name once)", (int)len,
                    name);
    if (!names_add(g, name, len, &g->tensor_name_off[i]))
        return nomem(r);
    g->t_slots[slot] = (size_t)i + 1;
    g->n_tensors = i + 1;
    const char *nm = g->names + g->tensor_name_off[i];

    at = r->pos;
    if ((st = read_u32(r, &t->n_dims, "tensor dimension count")) != JOULE_OK)
        return st;
    if (t->n_dims < 1 || t->n_dims > JOULE_GGUF_MAX_DIMS)
        return fail(r, at, "tensor '%s' has %" PRIu32 " dimensions (expected 1..%d)", nm,
                    t->n_dims, JOULE_GGUF_MAX_DIMS);
    size_t dims_at = r->pos;
    for (uint32_t d = 0; d < JOULE_GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims)
            continue;
        uint64_t ne = 0;
        at = r->pos;
        if ((st = read_u64(r, &ne, "tensor dimension")) != JOULE_OK)
            return st;
        if (ne > (uint64_t)INT64_MAX)
            return fail(r, at, "dimension %" PRIu32 " of tensor '%s' is %" PRIu64 ", negative "
                        "as int64 (expected 0..2^63-1)", d, nm, ne);
        t->ne[d] = (int64_t)ne;
    }
    /* rows first: with ne[0] == 0 the element count alone would hide an
     * overflowing row count */
    int64_t rows = 1, n_el = 0;
    for (uint32_t d = 1; d < JOULE_GGUF_MAX_DIMS; d++)
        if (__builtin_mul_overflow(rows, t->ne[d], &rows))
            return fail(r, dims_at, "row count of tensor '%s' overflows int64 (expected a "
                        "product of dimensions below 2^63)", nm);
    if (__builtin_mul_overflow(rows, t->ne[0], &n_el))
        return fail(r, dims_at, "element count of tensor '%s' overflows int64 (expected a "
                    "product of dimensions below 2^63)", nm);
    t->n_elements = n_el;
    t->n_rows = t->ne[0] == 0 ? 0 : rows; /* rows of no elements are not worth a loop */

    uint32_t type = 0;
    at = r->pos;
    if ((st = read_u32(r, &type, "tensor type")) != JOULE_OK)
        return st;
    const struct joule_quant_traits *tr = joule_quant_traits(type);
    if (!tr)
        return fail(r, at, "tensor '%s' has unknown type %" PRIu32 " (expected a known ggml "
                    "type id: 0-3, 6-15, 30)", nm, type);
    t->type = (enum joule_quant_type)type;
    if (t->ne[0] % tr->block_size != 0)
        return fail(r, at, "row length %" PRId64 " of tensor '%s' is not a multiple of %" PRIu32
                    ", the block size of %s (expected whole blocks)", t->ne[0], nm,
                    tr->block_size, tr->name);
    if (!joule_quant_row_size(type, t->ne[0], &t->row_bytes) ||
        (uint64_t)t->n_rows > SIZE_MAX ||
        !joule_mul_size(t->row_bytes, (size_t)t->n_rows, &t->nbytes))
        return fail(r, at, "byte size of tensor '%s' overflows (expected a size below 2^64)",
                    nm);

    *info_off = r->pos;
    if ((st = read_u64(r, &t->offset, "tensor offset")) != JOULE_OK)
        return st;
    if (t->offset % g->alignment != 0)
        return fail(r, *info_off, "offset %" PRIu64 " of tensor '%s' is not a multiple of the "
                    "alignment %zu (expected aligned tensor data)", t->offset, nm, g->alignment);
    return JOULE_OK;
}

struct span {
    uint64_t off;
    size_t nbytes;
    size_t idx;
};

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off ? 1 : 0;
}

/* Data section placement, bounds and overlaps. */
static enum joule_status place_tensors(struct rd *r, const size_t *info_off)
{
    struct joule_gguf *g = r->g;
    size_t pad = (g->alignment - r->pos % g->alignment) % g->alignment;
    if (!joule_add_size(r->pos, pad, &g->data_off))
        return fail(r, r->pos, "data section offset overflows (expected a smaller file)");
    size_t n_spans = 0;
    struct span *spans = joule_calloc(g->n_tensors ? (size_t)g->n_tensors : 1, sizeof(*spans));
    if (!spans)
        return nomem(r);
    enum joule_status st = JOULE_OK;
    for (uint64_t i = 0; i < g->n_tensors && st == JOULE_OK; i++) {
        struct joule_gguf_tensor *t = &g->tensors[i];
        const char *nm = g->names + g->tensor_name_off[i];
        size_t begin, end;
        if (t->nbytes == 0)
            continue;
        if (t->offset > SIZE_MAX || !joule_add_size(g->data_off, (size_t)t->offset, &begin) ||
            !joule_add_size(begin, t->nbytes, &end) || end > g->size) {
            st = fail(r, info_off[i], "data of tensor '%s' (%zu bytes at data offset %" PRIu64
                      ", data section at %zu) runs past the end of the file at %zu (expected "
                      "the file to hold all tensor data)", nm, t->nbytes, t->offset, g->data_off,
                      g->size);
            break;
        }
        uint32_t need = joule_quant_traits(t->type)->align;
        if ((uintptr_t)(g->base + begin) % need != 0) {
            st = fail(r, info_off[i], "data of tensor '%s' at file offset %zu is not aligned to "
                      "%" PRIu32 " bytes as %s needs (expected general.alignment >= %" PRIu32 ")",
                      nm, begin, need, joule_quant_name(t->type), need);
            break;
        }
        spans[n_spans++] = (struct span){t->offset, t->nbytes, (size_t)i};
    }
    if (st == JOULE_OK && n_spans > 1) {
        qsort(spans, n_spans, sizeof(*spans), span_cmp);
        for (size_t k = 1; k < n_spans; k++) {
            const struct span *a = &spans[k - 1], *b = &spans[k];
            if (b->off - a->off < a->nbytes) {
                st = fail(r, info_off[b->idx], "data of tensor '%s' (data offset %" PRIu64
                          ") overlaps tensor '%s' (data offset %" PRIu64 ", %zu bytes) "
                          "(expected disjoint tensor data)", g->names + g->tensor_name_off[b->idx],
                          b->off, g->names + g->tensor_name_off[a->idx], a->off, a->nbytes);
                break;
            }
        }
    }
    free(spans);
    return st;
}

static enum joule_status parse(struct rd *r)
{
    struct joule_gguf *g = r->g;
    uint64_t n_tensors, n_kv;
    enum joule_status st = parse_header(r, &n_tensors, &n_kv);
    if (st == JOULE_OK)
        st = parse_kvs(r, n_kv);
    if (st == JOULE_OK)
        st = parse_alignment(r);
    if (st != JOULE_OK)
        return st;
    /* the counts were bounded by the header's bytes; the tensor infos must
     * still fit in what is left after the metadata */
    if (n_tensors > left(r) / GGUF_MIN_TENSOR_BYTES)
        return fail(r, 8, "tensor count %" PRIu64 " is more than the %zu bytes after the "
                    "metadata can hold (expected at most %zu)", n_tensors, left(r),
                    left(r) / GGUF_MIN_TENSOR_BYTES);
    g->tensors = joule_calloc(n_tensors ? (size_t)n_tensors : 1, sizeof(*g->tensors));
    g->tensor_name_off = joule_calloc(n_tensors ? (size_t)n_tensors : 1, sizeof(size_t));
    size_t *info_off = joule_calloc(n_tensors ? (size_t)n_tensors : 1, sizeof(size_t));
    if (!g->tensors || !g->tensor_name_off || !info_off ||
        !slots_alloc((size_t)n_tensors, &g->t_slots, &g->t_mask)) {
        free(info_off);
        return nomem(r);
    }
    for (uint64_t i = 0; i < n_tensors && st == JOULE_OK; i++)
        st = parse_tensor_info(r, i, &info_off[i]);
    if (st == JOULE_OK)
        st = place_tensors(r, info_off);
    free(info_off);
    if (st != JOULE_OK)
        return st;

    /* the arena is final: hand out pointers */
    for (uint64_t i = 0; i < g->n_kv; i++)
        g->kvs[i].key = g->names + g->kvs[i].key_off;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        struct joule_gguf_tensor *t = &g->tensors[i];
        t->name = g->names + g->tensor_name_off[i];
        t->data = t->nbytes ? g->base + g->data_off + t->offset : NULL;
    }
    return JOULE_OK;
}

static enum joule_status open_common(const uint8_t *base, size_t size, void *map,
                                     const char *label, struct joule_gguf **out, char *err,
                                     size_t err_size)
{
    struct joule_gguf *g = calloc(1, sizeof(*g));
    size_t llen = strlen(label);
    char *lab = malloc(llen + 1);
    if (!g || !lab) {
        free(g);
        free(lab);
        if (map)
            munmap(map, size);
        joule_fmt(err, err_size, "%s: out of memory", label);
        return JOULE_ERR_NOMEM;
    }
    memcpy(lab, label, llen + 1);
    g->base = base;
    g->size = size;
    g->map = map;
    g->label = lab;
    struct rd r = {g, 0, err, err_size};
    enum joule_status st = parse(&r);
    if (st != JOULE_OK) {
        joule_gguf_close(g);
        return st;
    }
    if (err && err_size)
        err[0] = '\0';
    *out = g;
    return JOULE_OK;
}

enum joule_status joule_gguf_open_buffer(const void *data, size_t size, struct joule_gguf **out,
                                         char *err, size_t err_size)
{
    if (!out)
        return JOULE_ERR_INVALID;
    *out = NULL;
    if (!data && size > 0)
        return JOULE_ERR_INVALID;
    static const uint8_t empty[1] = {0};
    return open_common(data ? data : empty, size, NULL, "<buffer>", out, err, err_size);
}

enum joule_status joule_gguf_open_file(const char *path, struct joule_gguf **out, char *err,
                                       size_t err_size)
{
    if (!out || !path)
        return JOULE_ERR_INVALID;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        joule_fmt(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return JOULE_ERR_IO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        joule_fmt(err, err_size, "%s: not a regular file", path);
        close(fd);
        return JOULE_ERR_IO;
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        joule_fmt(err, err_size, "%s: too large to map", path);
        close(fd);
        return JOULE_ERR_IO;
    }
    size_t size = (size_t)sb.st_size;
    void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            joule_fmt(err, err_size, "%s: cannot map: %s", path, strerror(errno));
            close(fd);
            return JOULE_ERR_IO;
        }
    }
    close(fd); /* the mapping keeps the file */
    static const uint8_t empty[1] = {0};
    return open_common(map ? map : empty, size, map, path, out, err, err_size);
}

void joule_gguf_close(struct joule_gguf *g)
{
    if (!g)
        return;
    if (g->map)
        munmap(g->map, g->size);
    free(g->label);
    free(g->kvs);
    free(g->tensors);
    free(g->tensor_name_off);
    free(g->elems);
    free(g->names);
    free(g->kv_slots);
    free(g->t_slots);
    free(g);
}

/* ---------------------------------------------------------------------------
 * Lookups
 */

uint32_t joule_gguf_version(const struct joule_gguf *g)
{
    return g->version;
}

size_t joule_gguf_alignment(const struct joule_gguf *g)
{
    return g->alignment;
}

size_t joule_gguf_data_offset(const struct joule_gguf *g)
{
    return g->data_off;
}

bool joule_gguf_is_file_mapped(const struct joule_gguf *g)
{
    return g->map != NULL;
}

size_t joule_gguf_file_size(const struct joule_gguf *g)
{
    return g->size;
}

uint64_t joule_gguf_kv_count(const struct joule_gguf *g)
{
    return g->n_kv;
}

const char *joule_gguf_key(const struct joule_gguf *g, uint64_t i)
{
    JOULE_ASSERT(i < g->n_kv);
    return g->kvs[i].key;
}

const struct joule_gguf_value *joule_gguf_kv_value(const struct joule_gguf *g, uint64_t i)
{
    JOULE_ASSERT(i < g->n_kv);
    return &g->kvs[i].val;
}

int64_t joule_gguf_find_key(const struct joule_gguf *g, const char *key)
{
    if (!g || !key || g->n_kv == 0)
        return -1;
    return slots_find(g, g->kv_slots, g->kv_mask, &g->kvs[0].key_off, sizeof(struct kv_entry),
                      key, strlen(key), NULL);
}

enum joule_status joule_gguf_get(const struct joule_gguf *g, const char *key,
                                 enum joule_gguf_type type, const struct joule_gguf_value **out,
                                 char *err, size_t err_size)
{
    int64_t i = joule_gguf_find_key(g, key);
    if (i < 0) {
        joule_fmt(err, err_size, "%s: key '%s' not found (expected a %s value)",
                  g ? g->label : "?", key ? key : "(null)", joule_gguf_type_name(type));
        return JOULE_ERR_NOT_FOUND;
    }
    const struct joule_gguf_value *v = &g->kvs[i].val;
    if (v->type != type) {
        joule_fmt(err, err_size, "%s: offset %zu: key '%s' has type %s (expected %s)", g->label,
                  g->kvs[i].file_off, key, joule_gguf_type_name(v->type),
                  joule_gguf_type_name(type));
        return JOULE_ERR_FORMAT;
    }
    *out = v;
    return JOULE_OK;
}

#define JOULE_GGUF_SCALAR(suffix, ctype, tag)                                             \
    enum joule_status joule_gguf_value_##suffix(const struct joule_gguf_value *v,          \
                                                ctype *out)                                \
    {                                                                                     \
        if (!v || v->type != (tag))                                                       \
            return JOULE_ERR_FORMAT;                                                      \
        memcpy(out, v->p, sizeof(ctype));                                                 \
        return JOULE_OK;                                                                  \
    }                                                                                     \
    enum joule_status joule_gguf_get_##suffix(const struct joule_gguf *g, const char *key, \
                                              ctype *out)                                  \
    {                                                                                     \
        const struct joule_gguf_value *v;                                                 \
        enum joule_status st = joule_gguf_get(g, key, (tag), &v, NULL, 0);                \
        return st == JOULE_OK ? joule_gguf_value_##suffix(v, out) : st;                   \
    }

JOULE_GGUF_SCALAR(u8, uint8_t, JOULE_GGUF_TYPE_UINT8)
JOULE_GGUF_SCALAR(i8, int8_t, JOULE_GGUF_TYPE_INT8)
JOULE_GGUF_SCALAR(u16, uint16_t, JOULE_GGUF_TYPE_UINT16)
JOULE_GGUF_SCALAR(i16, int16_t, JOULE_GGUF_TYPE_INT16)
JOULE_GGUF_SCALAR(u32, uint32_t, JOULE_GGUF_TYPE_UINT32)
JOULE_GGUF_SCALAR(i32, int32_t, JOULE_GGUF_TYPE_INT32)
JOULE_GGUF_SCALAR(u64, uint64_t, JOULE_GGUF_TYPE_UINT64)
JOULE_GGUF_SCALAR(i64, int64_t, JOULE_GGUF_TYPE_INT64)
JOULE_GGUF_SCALAR(f32, float, JOULE_GGUF_TYPE_FLOAT32)
JOULE_GGUF_SCALAR(f64, double, JOULE_GGUF_TYPE_FLOAT64)

enum joule_status joule_gguf_value_bool(const struct joule_gguf_value *v, bool *out)
{
    if (!v || v->type != JOULE_GGUF_TYPE_BOOL)
        return JOULE_ERR_FORMAT;
    *out = v->p[0] != 0;
    return JOULE_OK;
}

enum joule_status joule_gguf_get_bool(const struct joule_gguf *g, const char *key, bool *out)
{
    const struct joule_gguf_value *v;
    enum joule_status st = joule_gguf_get(g, key, JOULE_GGUF_TYPE_BOOL, &v, NULL, 0);
    return st == JOULE_OK ? joule_gguf_value_bool(v, out) : st;
}

enum joule_status joule_gguf_value_str(const struct joule_gguf_value *v, const char **s,
                                       size_t *len)
{
    if (!v || v->type != JOULE_GGUF_TYPE_STRING)
        return JOULE_ERR_FORMAT;
    *s = (const char *)v->p;
    *len = (size_t)v->n;
    return JOULE_OK;
}

enum joule_status joule_gguf_get_str(const struct joule_gguf *g, const char *key,
                                     const char **s, size_t *len)
{
    const struct joule_gguf_value *v;
    enum joule_status st = joule_gguf_get(g, key, JOULE_GGUF_TYPE_STRING, &v, NULL, 0);
    return st == JOULE_OK ? joule_gguf_value_str(v, s, len) : st;
}

enum joule_status joule_gguf_value_uint(const struct joule_gguf_value *v, uint64_t *out)
{
    if (!v)
        return JOULE_ERR_FORMAT;
    int64_t s;
    switch (v->type) {
    case JOULE_GGUF_TYPE_UINT8: *out = v->p[0]; return JOULE_OK;
    case JOULE_GGUF_TYPE_UINT16: { uint16_t x; memcpy(&x, v->p, 2); *out = x; return JOULE_OK; }
    case JOULE_GGUF_TYPE_UINT32: { uint32_t x; memcpy(&x, v->p, 4); *out = x; return JOULE_OK; }
    case JOULE_GGUF_TYPE_UINT64: memcpy(out, v->p, 8); return JOULE_OK;
    case JOULE_GGUF_TYPE_INT8: s = (int8_t)v->p[0]; break;
    case JOULE_GGUF_TYPE_INT16: { int16_t x; memcpy(&x, v->p, 2); s = x; break; }
    case JOULE_GGUF_TYPE_INT32: { int32_t x; memcpy(&x, v->p, 4); s = x; break; }
    case JOULE_GGUF_TYPE_INT64: memcpy(&s, v->p, 8); break;
    default: return JOULE_ERR_FORMAT;
    }
    if (s < 0)
        return JOULE_ERR_FORMAT;
    *out = (uint64_t)s;
    return JOULE_OK;
}

enum joule_status joule_gguf_value_number(const struct joule_gguf_value *v, double *out)
{
    if (!v)
        return JOULE_ERR_FORMAT;
    switch (v->type) {
    case JOULE_GGUF_TYPE_FLOAT32: { float x; memcpy(&x, v->p, 4); *out = x; return JOULE_OK; }
    case JOULE_GGUF_TYPE_FLOAT64: memcpy(out, v->p, 8); return JOULE_OK;
    case JOULE_GGUF_TYPE_INT8: *out = (int8_t)v->p[0]; return JOULE_OK;
    case JOULE_GGUF_TYPE_INT16: { int16_t x; memcpy(&x, v->p, 2); *out = x; return JOULE_OK; }
    case JOULE_GGUF_TYPE_INT32: { int32_t x; memcpy(&x, v->p, 4); *out = x; return JOULE_OK; }
    case JOULE_GGUF_TYPE_INT64: { int64_t x; memcpy(&x, v->p, 8); *out = (double)x; return JOULE_OK; }
    default: break;
    }
    uint64_t u;
    if (v->type != JOULE_GGUF_TYPE_ARRAY && v->type != JOULE_GGUF_TYPE_STRING &&
        v->type != JOULE_GGUF_TYPE_BOOL && joule_gguf_value_uint(v, &u) == JOULE_OK) {
        *out = (double)u;
        return JOULE_OK;
    }
    return JOULE_ERR_FORMAT;
}

uint64_t joule_gguf_array_len(const struct joule_gguf_value *v)
{
    return v && v->type == JOULE_GGUF_TYPE_ARRAY ? v->n : 0;
}

enum joule_status joule_gguf_array_get(const struct joule_gguf_value *v, uint64_t i,
                                       struct joule_gguf_value *out)
{
    if (!v || v->type != JOULE_GGUF_TYPE_ARRAY)
        return JOULE_ERR_FORMAT;
    if (i >= v->n || !out)
        return JOULE_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    out->g = v->g;
    out->type = v->elem_type;
    out->n = 1;
    size_t fs = joule_gguf_type_size(v->elem_type);
    if (fs) {
        out->p = v->p + (size_t)i * fs; /* validated when the file was read */
        return JOULE_OK;
    }
    const struct elem_ref *e = &v->g->elems[v->index + (size_t)i];
    const uint8_t *p = v->p + e->off;
    if (v->elem_type == JOULE_GGUF_TYPE_STRING) {
        uint64_t len;
        memcpy(&len, p, 8);
        out->n = len;
        out->p = p + 8;
        return JOULE_OK;
    }
    uint32_t et = 0;
    uint64_t n = 0;
    memcpy(&et, p, 4);
    memcpy(&n, p + 4, 8);
    out->elem_type = (enum joule_gguf_type)et;
    out->n = n;
    out->p = p + 12;
    out->index = e->child;
    return JOULE_OK;
}

uint64_t joule_gguf_tensor_count(const struct joule_gguf *g)
{
    return g->n_tensors;
}

const struct joule_gguf_tensor *joule_gguf_tensor_at(const struct joule_gguf *g, uint64_t i)
{
    JOULE_ASSERT(i < g->n_tensors);
    return &g->tensors[i];
}

const struct joule_gguf_tensor *joule_gguf_find_tensor(const struct joule_gguf *g,
                                                       const char *name)
{
    if (!g || !name || g->n_tensors == 0)
        return NULL;
    int64_t i = slots_find(g, g->t_slots, g->t_mask, g->tensor_name_off, sizeof(size_t), name,
                           strlen(name), NULL);
    return i < 0 ? NULL : &g->tensors[i];
}

/* ---------------------------------------------------------------------------
 * Writer
 */

struct wtensor {
    char *name;
    enum joule_quant_type type;
    uint32_t n_dims;
    int64_t ne[JOULE_GGUF_MAX_DIMS];
    const void *data;
    size_t nbytes;
    uint64_t offset;
    joule_gguf_produce_fn produce; /* when set, rows come from it at write time */
    void *produce_ctx;
};

struct open_array {
    size_t count_pos; /* where the element count goes in kv */
    uint64_t count;
    enum joule_gguf_type elem_type;
};

struct joule_gguf_writer {
    uint8_t *kv; /* the encoded key/value section */
    size_t kv_len;
    size_t kv_cap;
    uint64_t n_kv;
    char **keys;
    size_t n_keys;
    size_t cap_keys;
    struct wtensor *t;
    size_t n_t;
    size_t cap_t;
    size_t alignment;
    struct open_array stack[JOULE_GGUF_MAX_DEPTH];
    int depth;
    char err[256];
};

__attribute__((format(printf, 3, 4))) static enum joule_status wfail(struct joule_gguf_writer *w,
                                                                       enum joule_status st,
                                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    joule_vfmt(w->err, sizeof(w->err), fmt, ap);
    va_end(ap);
    return st;
}

enum joule_status joule_gguf_writer_open(struct joule_gguf_writer **out)
{
    if (!out)
        return JOULE_ERR_INVALID;
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return JOULE_ERR_NOMEM;
    (*out)->alignment = JOULE_GGUF_DEFAULT_ALIGNMENT;
    return JOULE_OK;
}

void joule_gguf_writer_close(struct joule_gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_keys; i++)
        free(w->keys[i]);
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->keys);
    free(w->t);
    free(w->kv);
    free(w);
}

const char *joule_gguf_writer_errmsg(const struct joule_gguf_writer *w)
{
    return w ? w->err : "";
}

static enum joule_status put(struct joule_gguf_writer *w, const void *p, size_t n)
{
    size_t need;
    if (!joule_add_size(w->kv_len, n, &need))
        return wfail(w, JOULE_ERR_NOMEM, "metadata too large");
    if (need > w->kv_cap) {
        size_t cap;
        if (!joule_grow_cap(w->kv_cap, need, 1024, &cap))
            return wfail(w, JOULE_ERR_NOMEM, "metadata too large");
        uint8_t *nb = realloc(w->kv, cap);
        if (!nb)
            return wfail(w, JOULE_ERR_NOMEM, "out of memory");
        w->kv = nb;
        w->kv_cap = cap;
    }
    if (n)
        memcpy(w->kv + w->kv_len, p, n);
    w->kv_len = need;
    return JOULE_OK;
}

static enum joule_status put_str(struct joule_gguf_writer *w, const char *s, size_t len)
{
    uint64_t n = len;
    enum joule_status st = put(w, &n, 8);
    return st == JOULE_OK ? put(w, s, len) : st;
}

/* Start a value: a new key (key != NULL) or the next element of the open array. */
static enum joule_status begin_value(struct joule_gguf_writer *w, const char *key,
                                     enum joule_gguf_type type)
{
    if (!w)
        return JOULE_ERR_INVALID;
    if (!key) {
        if (w->depth == 0)
            return wfail(w, JOULE_ERR_STATE, "a value without a key needs an open array");
        struct open_array *a = &w->stack[w->depth - 1];
        if (a->elem_type != type)
            return wfail(w, JOULE_ERR_INVALID, "a %s element in an array of %s",
                         type_names[type], type_names[a->elem_type]);
        a->count++;
        return JOULE_OK;
    }
    if (w->depth != 0)
        return wfail(w, JOULE_ERR_STATE, "key '%s' set while an array is open", key);
    size_t len = strlen(key);
    if (len == 0)
        return wfail(w, JOULE_ERR_INVALID, "empty key");
    for (size_t i = 0; i < w->n_keys; i++)
        if (strcmp(w->keys[i], key) == 0)
            return wfail(w, JOULE_ERR_INVALID, "duplicate key '%s'", key);
    if (w->n_keys == w->cap_keys) {
        size_t cap = w->cap_keys ? w->cap_keys * 2 : 16;
        char **nk = joule_realloc_array(w->keys, cap, sizeof(*nk));
        if (!nk)
            return wfail(w, JOULE_ERR_NOMEM, "out of memory");
        w->keys = nk;
        w->cap_keys = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return wfail(w, JOULE_ERR_NOMEM, "out of memory");
    memcpy(copy, key, len + 1);
    w->keys[w->n_keys++] = copy;
    uint32_t t = type;
    enum joule_status st = put_str(w, key, len);
    if (st == JOULE_OK)
        st = put(w, &t, 4);
    if (st == JOULE_OK)
        w->n_kv++;
    return st;
}

static bool is_alignment_key(const char *key)
{
    return key && strcmp(key, "general.alignment") == 0;
}

static enum joule_status set_fixed(struct joule_gguf_writer *w, const char *key,
                                   enum joule_gguf_type type, const void *v)
{
    if (w && is_alignment_key(key) && type != JOULE_GGUF_TYPE_UINT32)
        return wfail(w, JOULE_ERR_INVALID, "general.alignment must be a u32");
    enum joule_status st = begin_value(w, key, type);
    return st == JOULE_OK ? put(w, v, type_sizes[type]) : st;
}

#define JOULE_GGUF_SETTER(suffix, ctype, tag)                                             \
    enum joule_status joule_gguf_writer_set_##suffix(struct joule_gguf_writer *w,         \
                                                     const char *key, ctype v)            \
    {                                                                                     \
        return set_fixed(w, key, (tag), &v);                                              \
    }

JOULE_GGUF_SETTER(u8, uint8_t, JOULE_GGUF_TYPE_UINT8)
JOULE_GGUF_SETTER(i8, int8_t, JOULE_GGUF_TYPE_INT8)
JOULE_GGUF_SETTER(u16, uint16_t, JOULE_GGUF_TYPE_UINT16)
JOULE_GGUF_SETTER(i16, int16_t, JOULE_GGUF_TYPE_INT16)
JOULE_GGUF_SETTER(i32, int32_t, JOULE_GGUF_TYPE_INT32)
JOULE_GGUF_SETTER(u64, uint64_t, JOULE_GGUF_TYPE_UINT64)
JOULE_GGUF_SETTER(i64, int64_t, JOULE_GGUF_TYPE_INT64)
JOULE_GGUF_SETTER(f32, float, JOULE_GGUF_TYPE_FLOAT32)
JOULE_GGUF_SETTER(f64, double, JOULE_GGUF_TYPE_FLOAT64)

enum joule_status joule_gguf_writer_set_u32(struct joule_gguf_writer *w, const char *key,
                                            uint32_t v)
{
    if (w && is_alignment_key(key)) {
        if (v == 0 || (v & (v - 1)) != 0)
            return wfail(w, JOULE_ERR_INVALID, "general.alignment %" PRIu32
                         " is not a power of two", v);
    }
    enum joule_status st = set_fixed(w, key, JOULE_GGUF_TYPE_UINT32, &v);
    if (st == JOULE_OK && is_alignment_key(key))
        w->alignment = v;
    return st;
}

enum joule_status joule_gguf_writer_set_bool(struct joule_gguf_writer *w, const char *key, bool v)
{
    uint8_t b = v ? 1 : 0;
    return set_fixed(w, key, JOULE_GGUF_TYPE_BOOL, &b);
}

enum joule_status joule_gguf_writer_set_strn(struct joule_gguf_writer *w, const char *key,
                                             const char *s, size_t len)
{
    if (!s && len)
        return JOULE_ERR_INVALID;
    if (w && is_alignment_key(key))
        return wfail(w, JOULE_ERR_INVALID, "general.alignment must be a u32");
    enum joule_status st = begin_value(w, key, JOULE_GGUF_TYPE_STRING);
    return st == JOULE_OK ? put_str(w, s ? s : "", len) : st;
}

enum joule_status joule_gguf_writer_set_str(struct joule_gguf_writer *w, const char *key,
                                            const char *s)
{
    if (!s)
        return JOULE_ERR_INVALID;
    return joule_gguf_writer_set_strn(w, key, s, strlen(s));
}

enum joule_status joule_gguf_writer_begin_array(struct joule_gguf_writer *w, const char *key,
                                                enum joule_gguf_type elem_type)
{
    if (!w)
        return JOULE_ERR_INVALID;
    if ((uint32_t)elem_type >= JOULE_GGUF_TYPE_COUNT)
        return wfail(w, JOULE_ERR_INVALID, "unknown element type %u", (unsigned)elem_type);
    if (w->depth >= JOULE_GGUF_MAX_DEPTH)
        return wfail(w, JOULE_ERR_STATE, "arrays nested deeper than %d", JOULE_GGUF_MAX_DEPTH);
    if (is_alignment_key(key))
        return wfail(w, JOULE_ERR_INVALID, "general.alignment must be a u32");
    enum joule_status st = begin_value(w, key, JOULE_GGUF_TYPE_ARRAY);
    uint32_t et = elem_type;
    uint64_t zero = 0;
    if (st == JOULE_OK)
        st = put(w, &et, 4);
    if (st != JOULE_OK)
        return st;
    size_t pos = w->kv_len;
    if ((st = put(w, &zero, 8)) != JOULE_OK)
        return st;
    w->stack[w->depth++] = (struct open_array){pos, 0, elem_type};
    return JOULE_OK;
}

enum joule_status joule_gguf_writer_end_array(struct joule_gguf_writer *w)
{
    if (!w)
        return JOULE_ERR_INVALID;
    if (w->depth == 0)
        return wfail(w, JOULE_ERR_STATE, "end_array without an open array");
    struct open_array *a = &w->stack[--w->depth];
    memcpy(w->kv + a->count_pos, &a->count, 8);
    return JOULE_OK;
}

enum joule_status joule_gguf_writer_set_array(struct joule_gguf_writer *w, const char *key,
                                              enum joule_gguf_type elem_type, const void *data,
                                              uint64_t n)
{
    if (!w || (!data && n))
        return JOULE_ERR_INVALID;
    if (elem_type == JOULE_GGUF_TYPE_ARRAY)
        return wfail(w, JOULE_ERR_INVALID, "arrays of arrays need begin_array/end_array");
    enum joule_status st = joule_gguf_writer_begin_array(w, key, elem_type);
    if (st != JOULE_OK)
        return st;
    size_t fs = joule_gguf_type_size(elem_type);
    for (uint64_t i = 0; i < n && st == JOULE_OK; i++) {
        if (elem_type == JOULE_GGUF_TYPE_STRING) {
            const char *s = ((const char *const *)data)[i];
            st = s ? put_str(w, s, strlen(s)) : JOULE_ERR_INVALID;
        } else if (elem_type == JOULE_GGUF_TYPE_BOOL) {
            uint8_t b = ((const bool *)data)[i] ? 1 : 0;
            st = put(w, &b, 1);
        } else {
            st = put(w, (const uint8_t *)data + (size_t)i * fs, fs);
        }
    }
    w->stack[w->depth - 1].count = n;
    enum joule_status st2 = joule_gguf_writer_end_array(w);
    return st != JOULE_OK ? st : st2;
}

enum joule_status joule_gguf_writer_set_value(struct joule_gguf_writer *w, const char *key,
                                              const struct joule_gguf_value *v)
{
    if (!w || !v || (uint32_t)v->type >= JOULE_GGUF_TYPE_COUNT)
        return JOULE_ERR_INVALID;
    if (v->type == JOULE_GGUF_TYPE_UINT32) {
        uint32_t x;
        memcpy(&x, v->p, 4);
        return joule_gguf_writer_set_u32(w, key, x); /* keeps the alignment rule */
    }
    size_t fs = joule_gguf_type_size(v->type);
    if (fs)
        return set_fixed(w, key, v->type, v->p);
    if (v->type == JOULE_GGUF_TYPE_STRING)
        return joule_gguf_writer_set_strn(w, key, (const char *)v->p, (size_t)v->n);
    enum joule_status st = joule_gguf_writer_begin_array(w, key, v->elem_type);
    if (st != JOULE_OK)
        return st;
    size_t efs = joule_gguf_type_size(v->elem_type);
    if (efs) {
        /* fixed-size elements are stored as the file stores them: copy the bytes */
        st = put(w, v->p, (size_t)v->n * efs);
        w->stack[w->depth - 1].count = v->n;
    } else {
        for (uint64_t i = 0; i < v->n && st == JOULE_OK; i++) {
            struct joule_gguf_value e;
            st = joule_gguf_array_get(v, i, &e);
            if (st == JOULE_OK)
                st = joule_gguf_writer_set_value(w, NULL, &e);
        }
    }
    enum joule_status st2 = joule_gguf_writer_end_array(w);
    return st != JOULE_OK ? st : st2;
}

/* Bytes of a tensor of `type` and shape ne[0..n_dims), checked for
 * overflow and whole blocks; a message in w on failure. */
static enum joule_status tensor_size(struct joule_gguf_writer *w, const char *name,
                                     enum joule_quant_type type, uint32_t n_dims,
                                     const int64_t *ne, size_t *total)
{
    const struct joule_quant_traits *tr = joule_quant_traits(type);
    if (!tr)
        return wfail(w, JOULE_ERR_INVALID, "tensor '%s': unknown type %u", name, (unsigned)type);
    int64_t rows = 1;
    for (uint32_t d = 1; d < n_dims; d++)
        if (ne[d] < 0 || __builtin_mul_overflow(rows, ne[d], &rows))
            return wfail(w, JOULE_ERR_INVALID, "tensor '%s': bad dimension %" PRIu32, name, d);
    size_t row_bytes;
    if (ne[0] < 0 || !joule_quant_row_size(type, ne[0], &row_bytes) ||
        !joule_mul_size(row_bytes, (size_t)rows, total))
        return wfail(w, JOULE_ERR_INVALID, "tensor '%s': row of %" PRId64 " is not whole %s "
                     "blocks, or too large", name, ne[0], tr->name);
    return JOULE_OK;
}

enum joule_status joule_gguf_writer_add_tensor(struct joule_gguf_writer *w, const char *name,
                                               enum joule_quant_type type, uint32_t n_dims,
                                               const int64_t *ne, const void *data,
                                               size_t nbytes)
{
    if (!w || !name || !ne || (!data && nbytes))
        return JOULE_ERR_INVALID;
    size_t len = strlen(name);
    if (len == 0 || len > JOULE_GGUF_NAME_MAX)
        return wfail(w, JOULE_ERR_INVALID, "tensor name of %zu bytes (expected 1..%d)", len,
                     JOULE_GGUF_NAME_MAX);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return wfail(w, JOULE_ERR_INVALID, "duplicate tensor name '%s'", name);
    if (n_dims < 1 || n_dims > JOULE_GGUF_MAX_DIMS)
        return wfail(w, JOULE_ERR_INVALID, "tensor '%s': %" PRIu32 " dimensions", name, n_dims);
    size_t total;
    enum joule_status st = tensor_size(w, name, type, n_dims, ne, &total);
    if (st != JOULE_OK)
        return st;
    if (total != nbytes)
        return wfail(w, JOULE_ERR_INVALID, "tensor '%s': %zu bytes given, %zu expected", name,
                     nbytes, total);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 16;
        struct wtensor *nt = joule_realloc_array(w->t, cap, sizeof(*nt));
        if (!nt)
            return wfail(w, JOULE_ERR_NOMEM, "out of memory");
        w->t = nt;
        w->cap_t = cap;
    }
    struct wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof(*t));
    t->name = malloc(len + 1);
    if (!t->name)
        return wfail(w, JOULE_ERR_NOMEM, "out of memory");
    memcpy(t->name, name, len + 1);
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < JOULE_GGUF_MAX_DIMS; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    t->data = data;
    t->nbytes = nbytes;
    w->n_t++;
    return JOULE_OK;
}

enum joule_status joule_gguf_writer_add_tensor_fn(struct joule_gguf_writer *w, const char *name,
                                                  enum joule_quant_type type, uint32_t n_dims,
                                                  const int64_t *ne, joule_gguf_produce_fn produce,
                                                  void *ctx)
{
    if (!w || !name || !ne || !produce)
        return JOULE_ERR_INVALID;
    if (n_dims < 1 || n_dims > JOULE_GGUF_MAX_DIMS)
        return wfail(w, JOULE_ERR_INVALID, "tensor '%s': %" PRIu32 " dimensions", name, n_dims);
    /* The size check of add_tensor, then a placeholder pointer it accepts. */
    size_t total;
    enum joule_status st = tensor_size(w, name, type, n_dims, ne, &total);
    if (st != JOULE_OK)
        return st;
    st = joule_gguf_writer_add_tensor(w, name, type, n_dims, ne, w, total);
    if (st != JOULE_OK)
        return st;
    struct wtensor *t = &w->t[w->n_t - 1];
    t->data = NULL;
    t->produce = produce;
    t->produce_ctx = ctx;
    return JOULE_OK;
}

static bool align_up(size_t x, size_t a, size_t *out)
{
    size_t pad = (a - x % a) % a;
    return joule_add_size(x, pad, out);
}

/* Lay the file out: tensor offsets, data section offset, total bytes. */
static enum joule_status layout(struct joule_gguf_writer *w, size_t *data_off, size_t *total)
{
    if (w->depth != 0)
        return wfail(w, JOULE_ERR_STATE, "an array is still open");
    size_t h = GGUF_HEADER_BYTES + w->kv_len, off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        size_t info = 8 + strlen(w->t[i].name) + 4 + 8 * (size_t)w->t[i].n_dims + 4 + 8;
        if (!joule_add_size(h, info, &h))
            return wfail(w, JOULE_ERR_NOMEM, "file too large");
        w->t[i].offset = off;
        if (!joule_add_size(off, w->t[i].nbytes, &off) || !align_up(off, w->alignment, &off))
            return wfail(w, JOULE_ERR_NOMEM, "file too large");
    }
    if (!align_up(h, w->alignment, data_off) || !joule_add_size(*data_off, off, total))
        return wfail(w, JOULE_ERR_NOMEM, "file too large");
    return JOULE_OK;
}

/* Where the bytes go: a FILE or a buffer. */
struct sink {
    FILE *f;
    uint8_t *buf;
    size_t len;
    bool failed;
    enum joule_status st; /* JOULE_IO for a failed write, or a producer's status */
};

static void emit(struct sink *s, const void *p, size_t n)
{
    if (n == 0 || s->failed)
        return;
    if (s->f) {
        if (fwrite(p, 1, n, s->f) != n) {
            s->failed = true;
            s->st = JOULE_ERR_IO;
        }
    } else {
        memcpy(s->buf + s->len, p, n);
    }
    s->len += n;
}

static void emit_zeros(struct sink *s, size_t n)
{
    static const uint8_t zeros[64];
    while (n > 0) {
        size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
        emit(s, zeros, k);
        n -= k;
    }
}

/* Bytes of produced rows per call: large enough to keep producers' threads
 * busy, small enough not to hold a tensor in memory. */
#define PRODUCE_CHUNK_BYTES (8u << 20)

/* The data of a produced tensor, chunk by chunk through one scratch buffer. */
static void emit_produced(const struct wtensor *t, struct sink *s)
{
    if (s->failed || t->nbytes == 0)
        return;
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    size_t row_bytes = t->nbytes / (size_t)rows;
    int64_t per = (int64_t)(PRODUCE_CHUNK_BYTES / row_bytes);
    if (per < 1)
        per = 1;
    if (per > rows)
        per = rows;
    uint8_t *scratch = s->f ? malloc((size_t)per * row_bytes) : NULL;
    if (s->f && !scratch) {
        s->failed = true;
        s->st = JOULE_ERR_NOMEM;
        return;
    }
    for (int64_t r = 0; r < rows && !s->failed; r += per) {
        int64_t n = rows - r < per ? rows - r : per;
        /* A buffer sink is produced in place. */
        uint8_t *dst = scratch ? scratch : s->buf + s->len;
        enum joule_status st = t->produce(t->produce_ctx, r, n, dst);
        if (st != JOULE_OK) {
            s->failed = true;
            s->st = st;
            break;
        }
        if (scratch)
            emit(s, dst, (size_t)n * row_bytes);
        else
            s->len += (size_t)n * row_bytes;
    }
    free(scratch);
}

static void emit_all(const struct joule_gguf_writer *w, struct sink *s, size_t data_off)
{
    uint32_t version = 3;
    uint64_t n_t = w->n_t, n_kv = w->n_kv;
    emit(s, "GGUF", 4);
    emit(s, &version, 4);
    emit(s, &n_t, 8);
    emit(s, &n_kv, 8);
    emit(s, w->kv, w->kv_len);
    for (size_t i = 0; i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        uint64_t len = strlen(t->name);
        uint32_t type = t->type;
        emit(s, &len, 8);
        emit(s, t->name, (size_t)len);
        emit(s, &t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++)
            emit(s, &t->ne[d], 8);
        emit(s, &type, 4);
        emit(s, &t->offset, 8);
    }
    emit_zeros(s, data_off - s->len);
    for (size_t i = 0; i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        if (t->produce)
            emit_produced(t, s);
        else
            emit(s, t->data, t->nbytes);
        emit_zeros(s, (w->alignment - t->nbytes % w->alignment) % w->alignment);
    }
}

enum joule_status joule_gguf_writer_write_buffer(struct joule_gguf_writer *w, uint8_t **out,
                                                 size_t *size)
{
    if (!w || !out || !size)
        return JOULE_ERR_INVALID;
    *out = NULL;
    *size = 0;
    size_t data_off, total;
    enum joule_status st = layout(w, &data_off, &total);
    if (st != JOULE_OK)
        return st;
    struct sink s = {NULL, malloc(total ? total : 1), 0, false, JOULE_OK};
    if (!s.buf)
        return wfail(w, JOULE_ERR_NOMEM, "out of memory for %zu bytes", total);
    emit_all(w, &s, data_off);
    if (s.failed) {
        free(s.buf);
        return wfail(w, s.st, "producing tensor data failed: %s", joule_status_str(s.st));
    }
    JOULE_ASSERT(s.len == total);
    *out = s.buf;
    *size = total;
    return JOULE_OK;
}

struct write_ctx {
    const struct joule_gguf_writer *w;
    size_t data_off;
};

static enum joule_status write_cb(FILE *f, void *ctx)
{
    struct write_ctx *c = ctx;
    struct sink s = {f, NULL, 0, false, JOULE_ERR_IO};
    emit_all(c->w, &s, c->data_off);
    return s.failed ? s.st : JOULE_OK;
}

enum joule_status joule_gguf_writer_write(struct joule_gguf_writer *w, const char *path,
                                          char *err, size_t err_size)
{
    if (!w || !path)
        return JOULE_ERR_INVALID;
    size_t data_off, total;
    enum joule_status st = layout(w, &data_off, &total);
    if (st != JOULE_OK) {
        joule_fmt(err, err_size, "%s: %s", path, w->err);
        return st;
    }
    struct write_ctx c = {w, data_off};
    st = joule_write_atomic(path, write_cb, &c, err, err_size);
    if (st != JOULE_OK)
        wfail(w, st, "%s", err && err_size ? err : "write failed");
    return st;
}
