/* output.c - readings and devices as tables, CSV and JSON. */
#include "cli.h"
#include "joule_int.h"

#include <math.h>
#include <string.h>

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *flags_json(uint32_t flags)
{
    json_t *a = json_array();
    for (unsigned b = 0; b < 32; b++)
        if (flags & (1u << b))
            json_array_append_new(a, json_string(joule_flag_str(1u << b)));
    return a;
}

json_t *cli_reading_json(const struct joule_reading *r)
{
    json_t *doms = json_array();
    for (uint32_t i = 0; i < r->n_domains; i++) {
        const struct joule_domain_reading *d = &r->domains[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(d->name));
        json_object_set_new(o, "source", json_string(d->source));
        json_object_set_new(o, "kind", json_string(joule_domain_kind_str(d->kind)));
        json_object_set_new(o, "provenance", json_string(joule_provenance_str(d->provenance)));
        json_object_set_new(o, "in_total", json_boolean(d->in_total));
        json_object_set_new(o, "energy_j", num_or_null(d->energy_j));
        json_object_set_new(o, "bound_j", num_or_null(d->bound_j));
        json_object_set_new(o, "net_energy_j", num_or_null(d->net_energy_j));
        json_object_set_new(o, "net_bound_j", num_or_null(d->net_bound_j));
        json_object_set_new(o, "idle_power_w", num_or_null(d->idle_power_w));
        json_object_set_new(o, "avg_power_w", num_or_null(d->avg_power_w));
        json_object_set_new(o, "peak_power_w", num_or_null(d->peak_power_w));
        json_object_set_new(o, "interval_s", num_or_null(d->interval_s));
        json_object_set_new(o, "n_samples", json_integer((json_int_t)d->n_samples));
        json_object_set_new(o, "flags", flags_json(d->flags));
        json_object_set_new(o, "note", json_string(d->note));
        json_array_append_new(doms, o);
    }
    json_t *tot = json_object();
    json_object_set_new(tot, "energy_j", num_or_null(r->total_energy_j));
    json_object_set_new(tot, "bound_j", num_or_null(r->total_bound_j));
    json_object_set_new(tot, "net_energy_j", num_or_null(r->total_net_energy_j));
    json_object_set_new(tot, "net_bound_j", num_or_null(r->total_net_bound_j));
    json_object_set_new(tot, "provenance",
                        json_string(joule_provenance_str(r->total_provenance)));
    json_object_set_new(tot, "avg_power_w",
                        num_or_null(r->duration_s > 0 ? r->total_energy_j / r->duration_s : NAN));
    json_t *o = json_object();
    json_object_set_new(o, "window", json_string(r->name));
    json_object_set_new(o, "t_begin_s", json_real(r->t_begin_s));
    json_object_set_new(o, "duration_s", json_real(r->duration_s));
    json_object_set_new(o, "total", tot);
    json_object_set_new(o, "flags", flags_json(r->flags));
    json_object_set_new(o, "domains", doms);
    return o;
}

json_t *cli_domain_info_json(const struct joule_domain_info *in)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(in->name));
    json_object_set_new(o, "source", json_string(in->source));
    json_object_set_new(o, "kind", json_string(joule_domain_kind_str(in->kind)));
    json_object_set_new(o, "provenance", json_string(joule_provenance_str(in->provenance)));
    json_object_set_new(o, "available", json_boolean(in->provenance != JOULE_PROV_UNAVAILABLE));
    json_object_set_new(o, "in_total", json_boolean(in->in_total));
    json_object_set_new(o, "note", json_string(in->note));
    json_object_set_new(o, "device", json_string(in->device));
    if (in->kind == JOULE_DOMAIN_GPU) {
        json_object_set_new(o, "index", in->index >= 0 ? json_integer(in->index) : json_null());
        json_object_set_new(o, "uuid", json_string(in->uuid));
        json_object_set_new(o, "driver", json_string(in->driver));
        json_object_set_new(o, "mig_mode",
                            in->mig_mode < 0 ? json_null() : json_boolean(in->mig_mode));
        json_object_set_new(o, "power_limit_w", num_or_null(in->power_limit_w));
        json_object_set_new(o, "sm_clock_mhz", num_or_null(in->sm_clock_mhz));
        json_object_set_new(o, "mem_clock_mhz", num_or_null(in->mem_clock_mhz));
        json_object_set_new(o, "temperature_c", num_or_null(in->temperature_c));
        json_object_set_new(o, "memory_used_mib", num_or_null(in->memory_used_mib));
        json_object_set_new(o, "memory_total_mib", num_or_null(in->memory_total_mib));
        json_object_set_new(o, "utilization_pct", num_or_null(in->utilization_pct));
    }
    json_object_set_new(o, "power_w", num_or_null(in->power_w));
    json_object_set_new(o, "counter_range_j", num_or_null(in->counter_range_j));
    json_object_set_new(o, "update_period_s", num_or_null(in->update_period_s));
    return o;
}

void cli_print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(j);
}

/* A number in a fixed-width cell, "-" when it does not exist. */
static void cell(FILE *f, double v, int width, int prec)
{
    if (isfinite(v))
        fprintf(f, " %*.*f", width, prec, v);
    else
        fprintf(f, " %*s", width, "-");
}

/* Decimal places that show about 4 significant digits of v. */
static int prec_for(double v)
{
    double a = fabs(v);
    if (!isfinite(a) || a >= 100)
        return 1;
    if (a >= 10)
        return 2;
    if (a >= 1)
        return 3;
    if (a >= 0.1)
        return 4;
    return 5;
}

static void provenance_text(char *buf, size_t size, enum joule_provenance p, double interval_s)
{
    if (p == JOULE_PROV_SAMPLED && isfinite(interval_s))
        joule_fmt(buf, size, "sampled/%.0fms", interval_s * 1000);
    else
        joule_strlcpy(buf, joule_provenance_str(p), size);
}

static void flags_text(char *buf, size_t size, uint32_t flags)
{
    buf[0] = '\0';
    for (unsigned b = 0; b < 32; b++) {
        if (!(flags & (1u << b)))
            continue;
        size_t len = strlen(buf);
        joule_fmt(buf + len, size - len, "%s%s", len ? "," : "", joule_flag_str(1u << b));
    }
}

void cli_print_reading(FILE *f, const struct joule_reading *r)
{
    bool net = isfinite(r->total_net_energy_j);
    for (uint32_t i = 0; i < r->n_domains && !net; i++)
        net = isfinite(r->domains[i].net_energy_j);
    int w_name = 6;
    for (uint32_t i = 0; i < r->n_domains; i++) {
        const struct joule_domain_reading *d = &r->domains[i];
        int len = (int)strlen(d->name) + (d->in_total ? 0 : 2);
        if (d->provenance != JOULE_PROV_UNAVAILABLE && len > w_name)
            w_name = len;
    }
    fprintf(f, "%-*s %-8s %12s %10s", w_name, "domain", "source", "energy_J", "+-J");
    if (net)
        fprintf(f, " %12s %10s", "net_J", "+-net_J");
    fprintf(f, " %9s %9s  %s\n", "avg_W", "peak_W", "provenance");
    for (uint32_t i = 0; i < r->n_domains; i++) {
        const struct joule_domain_reading *d = &r->domains[i];
        if (d->provenance == JOULE_PROV_UNAVAILABLE && !d->in_total)
            continue; /* listed under "not measured" */
        char name[JOULE_NAME_MAX + 4], prov[48], fl[160];
        /* Parenthesised: inside another domain, not added to the total. */
        joule_fmt(name, sizeof(name), d->in_total ? "%s" : "(%s)", d->name);
        provenance_text(prov, sizeof(prov), d->provenance, d->interval_s);
        flags_text(fl, sizeof(fl), d->flags);
        fprintf(f, "%-*s %-8s", w_name, name, d->source);
        cell(f, d->energy_j, 12, prec_for(d->energy_j));
        cell(f, d->bound_j, 10, prec_for(d->bound_j));
        if (net) {
            cell(f, d->net_energy_j, 12, prec_for(d->net_energy_j));
            cell(f, d->net_bound_j, 10, prec_for(d->net_bound_j));
        }
        cell(f, d->avg_power_w, 9, 2);
        cell(f, d->peak_power_w, 9, 2);
        fprintf(f, "  %s%s%s%s\n", prov, fl[0] ? " [" : "", fl, fl[0] ? "]" : "");
    }
    char prov[48], fl[160];
    provenance_text(prov, sizeof(prov), r->total_provenance, NAN);
    flags_text(fl, sizeof(fl), r->flags);
    fprintf(f, "%-*s %-8s", w_name, "total", "");
    cell(f, r->total_energy_j, 12, prec_for(r->total_energy_j));
    cell(f, r->total_bound_j, 10, prec_for(r->total_bound_j));
    if (net) {
        cell(f, r->total_net_energy_j, 12, prec_for(r->total_net_energy_j));
        cell(f, r->total_net_bound_j, 10, prec_for(r->total_net_bound_j));
    }
    cell(f, r->duration_s > 0 ? r->total_energy_j / r->duration_s : NAN, 9, 2);
    fprintf(f, " %9s  %s%s%s%s\n", "", prov, fl[0] ? " [" : "", fl, fl[0] ? "]" : "");

    bool header = false;
    for (uint32_t i = 0; i < r->n_domains; i++) {
        const struct joule_domain_reading *d = &r->domains[i];
        if (!d->note[0] || (d->provenance == JOULE_PROV_UNAVAILABLE && !d->in_total))
            continue;
        if (!header)
            fprintf(f, "\nnotes:\n");
        header = true;
        fprintf(f, "  %s: %s%s\n", d->name,
                d->provenance == JOULE_PROV_UNAVAILABLE ? "unavailable: " : "", d->note);
    }
    header = false;
    for (uint32_t i = 0; i < r->n_domains; i++) {
        const struct joule_domain_reading *d = &r->domains[i];
        if (d->provenance != JOULE_PROV_UNAVAILABLE || d->in_total)
            continue;
        if (!header)
            fprintf(f, "\nnot measured (not part of the total):\n");
        header = true;
        fprintf(f, "  %s (%s): %s\n", d->name, d->source, d->note);
    }
}

void cli_csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, ",%.9g", v);
    else
        fputs(",", f);
}

void cli_print_reading_csv(FILE *f, const struct joule_reading *r, bool header)
{
    if (header)
        fputs("window,domain,source,kind,provenance,in_total,energy_j,bound_j,net_energy_j,"
              "net_bound_j,idle_power_w,avg_power_w,peak_power_w,duration_s,interval_s,"
              "n_samples,flags,note\n",
              f);
    char fl[200];
    for (uint32_t i = 0; i < r->n_domains; i++) {
        const struct joule_domain_reading *d = &r->domains[i];
        cli_csv_field(f, r->name);
        fputc(',', f);
        cli_csv_field(f, d->name);
        fprintf(f, ",%s,%s,%s,%d", d->source, joule_domain_kind_str(d->kind),
                joule_provenance_str(d->provenance), d->in_total ? 1 : 0);
        csv_num(f, d->energy_j);
        csv_num(f, d->bound_j);
        csv_num(f, d->net_energy_j);
        csv_num(f, d->net_bound_j);
        csv_num(f, d->idle_power_w);
        csv_num(f, d->avg_power_w);
        csv_num(f, d->peak_power_w);
        csv_num(f, r->duration_s);
        csv_num(f, d->interval_s);
        fprintf(f, ",%llu,", (unsigned long long)d->n_samples);
        flags_text(fl, sizeof(fl), d->flags);
        cli_csv_field(f, fl);
        fputc(',', f);
        cli_csv_field(f, d->note);
        fputc('\n', f);
    }
    cli_csv_field(f, r->name);
    fprintf(f, ",total,,,%s,1", joule_provenance_str(r->total_provenance));
    csv_num(f, r->total_energy_j);
    csv_num(f, r->total_bound_j);
    csv_num(f, r->total_net_energy_j);
    csv_num(f, r->total_net_bound_j);
    csv_num(f, NAN);
    csv_num(f, r->duration_s > 0 ? r->total_energy_j / r->duration_s : NAN);
    csv_num(f, NAN);
    csv_num(f, r->duration_s);
    csv_num(f, NAN);
    fputs(",,", f);
    flags_text(fl, sizeof(fl), r->flags);
    cli_csv_field(f, fl);
    fputs(",\n", f);
}

/* Bytes of the valid UTF-8 sequence at s[0 .. n), or 0 when it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    uint32_t cp, min;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2, cp = s[0] & 0x1F, min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, cp = s[0] & 0x0F, min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, cp = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

json_t *cli_json_text(const char *s, size_t n)
{
    /* Each invalid byte becomes U+FFFD (3 bytes): at most 3n bytes. */
    char *buf = malloc(3 * n + 1);
    if (!buf)
        return json_null();
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        const size_t len = utf8_seq((const unsigned char *)s + i, n - i);
        if (len == 0) {
            memcpy(buf + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i++;
        } else {
            memcpy(buf + k, s + i, len);
            k += len;
            i += len;
        }
    }
    json_t *j = json_stringn(buf, k);
    free(buf);
    return j ? j : json_null();
}
