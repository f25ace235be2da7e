/* metrics.c - Prometheus text exposition (version 0.0.4): histograms and
 * the HELP and TYPE lines every metric carries. */
#include "serve.h"
#include "joule_int.h"

#include <math.h>
#include <string.h>

void serve_hist_init(struct serve_hist *h, const double *bounds, size_t n_bounds)
{
    memset(h, 0, sizeof(*h));
    JOULE_ASSERT(n_bounds <= SERVE_HIST_MAX);
    h->bounds = bounds;
    h->n_bounds = n_bounds;
}

void serve_hist_add(struct serve_hist *h, double v)
{
    if (!isfinite(v))
        return;
    size_t b = 0;
    while (b < h->n_bounds && v > h->bounds[b])
        b++;
    h->counts[b]++;
    h->count++;
    h->sum += v;
}

void serve_metric_head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void serve_hist_write(FILE *f, const char *name, const char *help, const struct serve_hist *h)
{
    serve_metric_head(f, name, "histogram", help);
    uint64_t cum = 0;
    for (size_t b = 0; b < h->n_bounds; b++) {
        cum += h->counts[b];
        fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[b], (unsigned long long)cum);
    }
    fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
    fprintf(f, "%s_sum %.17g\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

void serve_label_value(FILE *f, const char *v)
{
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fprintf(f, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
    fputc('"', f);
}
