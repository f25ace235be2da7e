"""joule: energy windows around Python code, from libjoule (ctypes, no dependencies).

    import joule

    with joule.Window("step") as w:
        run_inference()
    print(w.reading.total_energy_j, w.reading.total_provenance)

    meter = joule.Meter(interval_ms=50)      # explicit meter, own sampler thread
    meter.idle(5)                            # idle baseline: readings get net energy
    with meter.window("prefill") as w:
        ...

Every energy comes with its provenance ("measured", "sampled", "estimated",
"unavailable") and an error bound; a value that does not exist is None, never 0.
The library is found through $JOULE_LIB, next to an installed package, or on
the system library path.
"""

import ctypes
import ctypes.util
import math
import os
import threading

__all__ = ["Meter", "Window", "Reading", "DomainReading", "DomainInfo", "JouleError",
           "default_meter", "version"]

MAX_DOMAINS = 32
NAME_MAX = 64
NOTE_MAX = 256

PROVENANCE = ("measured", "sampled", "estimated", "unavailable")
KINDS = ("gpu", "package", "core", "uncore", "dram", "psys", "cpu", "other")
FLAGS = ("short-window", "negative-net", "meter-gap", "counter-reset", "coarse-sampling",
         "estimated-only", "mixed-provenance", "partial")


class _Params(ctypes.Structure):
    _fields_ = [
        ("sources", ctypes.c_char_p),
        ("interval_ms", ctypes.c_uint32),
        ("cpu_tdp_w", ctypes.c_double),
        ("powercap_root", ctypes.c_char_p),
        ("nvml_lib", ctypes.c_char_p),
        ("hwmon_root", ctypes.c_char_p),
        ("proc_root", ctypes.c_char_p),
        ("timeline_max", ctypes.c_uint32),
    ]


class _DomainReading(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char * NAME_MAX),
        ("source", ctypes.c_char * 16),
        ("note", ctypes.c_char * NOTE_MAX),
        ("kind", ctypes.c_int),
        ("provenance", ctypes.c_int),
        ("flags", ctypes.c_uint32),
        ("in_total", ctypes.c_int32),
        ("energy_j", ctypes.c_double),
        ("bound_j", ctypes.c_double),
        ("net_energy_j", ctypes.c_double),
        ("net_bound_j", ctypes.c_double),
        ("idle_power_w", ctypes.c_double),
        ("avg_power_w", ctypes.c_double),
        ("peak_power_w", ctypes.c_double),
        ("interval_s", ctypes.c_double),
        ("n_samples", ctypes.c_uint64),
    ]


class _Reading(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char * NAME_MAX),
        ("t_begin_s", ctypes.c_double),
        ("duration_s", ctypes.c_double),
        ("total_energy_j", ctypes.c_double),
        ("total_bound_j", ctypes.c_double),
        ("total_net_energy_j", ctypes.c_double),
        ("total_net_bound_j", ctypes.c_double),
        ("total_provenance", ctypes.c_int),
        ("flags", ctypes.c_uint32),
        ("n_domains", ctypes.c_uint32),
        ("domains", _DomainReading * MAX_DOMAINS),
    ]


class _DomainInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char * NAME_MAX),
        ("source", ctypes.c_char * 16),
        ("note", ctypes.c_char * NOTE_MAX),
        ("device", ctypes.c_char * 128),
        ("uuid", ctypes.c_char * 96),
        ("driver", ctypes.c_char * 64),
        ("kind", ctypes.c_int),
        ("provenance", ctypes.c_int),
        ("in_total", ctypes.c_int32),
        ("index", ctypes.c_int32),
        ("mig_mode", ctypes.c_int32),
        ("power_w", ctypes.c_double),
        ("power_limit_w", ctypes.c_double),
        ("sm_clock_mhz", ctypes.c_double),
        ("mem_clock_mhz", ctypes.c_double),
        ("temperature_c", ctypes.c_double),
        ("memory_used_mib", ctypes.c_double),
        ("memory_total_mib", ctypes.c_double),
        ("utilization_pct", ctypes.c_double),
        ("counter_range_j", ctypes.c_double),
        ("update_period_s", ctypes.c_double),
    ]


def _find_library():
    env = os.environ.get("JOULE_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    # Installed layout: LIBDIR/python3/dist-packages/joule/ beside LIBDIR/libjoule.so.0
    for rel in ("../../../libjoule.so.0", "../../../libjoule.so"):
        path = os.path.normpath(os.path.join(here, rel))
        if os.path.exists(path):
            return path
    return ctypes.util.find_library("joule") or "libjoule.so.0"


_lib = None
_lib_lock = threading.Lock()


def _load():
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        lib = ctypes.CDLL(_find_library())
        P = ctypes.POINTER
        lib.joule_version.restype = ctypes.c_char_p
        lib.joule_status_str.restype = ctypes.c_char_p
        lib.joule_status_str.argtypes = [ctypes.c_int]
        lib.joule_meter_default_params.restype = _Params
        lib.joule_meter_open.argtypes = [P(_Params), P(ctypes.c_void_p)]
        lib.joule_meter_open.restype = ctypes.c_int
        lib.joule_meter_close.argtypes = [ctypes.c_void_p]
        lib.joule_meter_errmsg.argtypes = [ctypes.c_void_p]
        lib.joule_meter_errmsg.restype = ctypes.c_char_p
        lib.joule_meter_domain_count.argtypes = [ctypes.c_void_p]
        lib.joule_meter_domain_count.restype = ctypes.c_uint32
        lib.joule_meter_domain_info.argtypes = [ctypes.c_void_p, ctypes.c_uint32, P(_DomainInfo)]
        lib.joule_meter_domain_info.restype = ctypes.c_int
        lib.joule_meter_idle.argtypes = [ctypes.c_void_p, ctypes.c_double]
        lib.joule_meter_idle.restype = ctypes.c_int
        lib.joule_meter_begin.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.joule_meter_begin.restype = ctypes.c_int
        lib.joule_meter_end.argtypes = [ctypes.c_void_p, ctypes.c_char_p, P(_Reading)]
        lib.joule_meter_end.restype = ctypes.c_int
        lib.joule_meter_write_timeline.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.joule_meter_write_timeline.restype = ctypes.c_int
        _lib = lib
        return lib


def version():
    """The library's version and the commit it was built from."""
    return _load().joule_version().decode()


class JouleError(RuntimeError):
    """A libjoule call failed; .status is the joule_status value."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _num(x):
    return None if x is None or not math.isfinite(x) else x


def _flags(bits):
    return [name for i, name in enumerate(FLAGS) if bits & (1 << i)]


class DomainReading:
    """One domain's share of a window: energy_j with bound_j and provenance."""

    def __init__(self, d):
        self.name = d.name.decode()
        self.source = d.source.decode()
        self.note = d.note.decode()
        self.kind = KINDS[d.kind] if 0 <= d.kind < len(KINDS) else "other"
        self.provenance = PROVENANCE[d.provenance]
        self.flags = _flags(d.flags)
        self.in_total = bool(d.in_total)
        self.energy_j = _num(d.energy_j)
        self.bound_j = _num(d.bound_j)
        self.net_energy_j = _num(d.net_energy_j)
        self.net_bound_j = _num(d.net_bound_j)
        self.idle_power_w = _num(d.idle_power_w)
        self.avg_power_w = _num(d.avg_power_w)
        self.peak_power_w = _num(d.peak_power_w)
        self.interval_s = _num(d.interval_s)
        self.n_samples = d.n_samples

    def __repr__(self):
        e = "n/a" if self.energy_j is None else "%.6g J +- %.3g" % (self.energy_j, self.bound_j)
        return "<%s %s %s>" % (self.name, e, self.provenance)


class Reading:
    """A closed window: totals and per-domain readings."""

    def __init__(self, r):
        self.name = r.name.decode()
        self.t_begin_s = r.t_begin_s
        self.duration_s = r.duration_s
        self.total_energy_j = _num(r.total_energy_j)
        self.total_bound_j = _num(r.total_bound_j)
        self.total_net_energy_j = _num(r.total_net_energy_j)
        self.total_net_bound_j = _num(r.total_net_bound_j)
        self.total_provenance = PROVENANCE[r.total_provenance]
        self.flags = _flags(r.flags)
        self.domains = [DomainReading(r.domains[i]) for i in range(r.n_domains)]

    def domain(self, name):
        """The reading of the domain called name (KeyError if none)."""
        for d in self.domains:
            if d.name == name:
                return d
        raise KeyError(name)

    def as_dict(self):
        out = {k: v for k, v in vars(self).items() if k != "domains"}
        out["domains"] = [vars(d).copy() for d in self.domains]
        return out

    def __repr__(self):
        e = "n/a" if self.total_energy_j is None else "%.6g J" % self.total_energy_j
        return "<Reading %s: %s over %.3f s, %s>" % (self.name, e, self.duration_s,
                                                      self.total_provenance)


class DomainInfo:
    """What a domain is: source, kind, provenance, device facts (None when unknown)."""

    def __init__(self, d):
        for name, _ in _DomainInfo._fields_:
            v = getattr(d, name)
            if isinstance(v, bytes):
                v = v.decode()
            elif isinstance(v, float):
                v = _num(v)
            setattr(self, name, v)
        self.kind = KINDS[d.kind] if 0 <= d.kind < len(KINDS) else "other"
        self.provenance = PROVENANCE[d.provenance]
        self.in_total = bool(d.in_total)

    def __repr__(self):
        return "<DomainInfo %s (%s, %s)>" % (self.name, self.source, self.provenance)


class Meter:
    """An energy meter: sources, a sampler thread and named windows.

    Keyword arguments mirror struct joule_meter_params: sources ("auto", or
    "nvml,rapl", "fake:FILE" ...), interval_ms (default 100), cpu_tdp_w,
    powercap_root, nvml_lib, hwmon_root, proc_root, timeline_max.
    Thread-safe; close() it, or use it as a context manager.
    """

    def __init__(self, **kw):
        lib = _load()
        p = lib.joule_meter_default_params()
        for k, v in kw.items():
            if k not in dict(_Params._fields_):
                raise TypeError("unknown meter parameter %r" % k)
            setattr(p, k, v.encode() if isinstance(v, str) else v)
        self._params = p  # keeps the encoded strings alive during open
        self._h = ctypes.c_void_p()
        s = lib.joule_meter_open(ctypes.byref(p), ctypes.byref(self._h))
        if s != 0:
            msg = lib.joule_meter_errmsg(self._h).decode() if self._h else ""
            lib.joule_meter_close(self._h)
            self._h = None
            raise JouleError(s, msg or lib.joule_status_str(s).decode())

    def _check(self, s):
        if s != 0:
            raise JouleError(s, _load().joule_meter_errmsg(self._h).decode())

    def _handle(self):
        if not self._h:
            raise JouleError(7, "the meter is closed")
        return self._h

    def close(self):
        if self._h:
            _load().joule_meter_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def domains(self):
        """DomainInfo for every domain, available or not."""
        lib, h = _load(), self._handle()
        out = []
        for i in range(lib.joule_meter_domain_count(h)):
            d = _DomainInfo()
            self._check(lib.joule_meter_domain_info(h, i, ctypes.byref(d)))
            out.append(DomainInfo(d))
        return out

    def idle(self, seconds):
        """Measure idle power for `seconds` (blocks); later readings carry net energy."""
        self._check(_load().joule_meter_idle(self._handle(), float(seconds)))

    def begin(self, name):
        self._check(_load().joule_meter_begin(self._handle(), name.encode()))

    def end(self, name):
        r = _Reading()
        self._check(_load().joule_meter_end(self._handle(), name.encode(), ctypes.byref(r)))
        return Reading(r)

    def window(self, name):
        """A context manager: `with meter.window("x") as w: ...` then w.reading."""
        return Window(name, meter=self)

    def write_timeline(self, path):
        """Write the power timeline as CSV (atomically). Not inside a measured window."""
        self._check(_load().joule_meter_write_timeline(self._handle(), os.fsencode(path)))


_default = None
_default_lock = threading.Lock()


def default_meter():
    """The process-wide meter joule.Window uses when given none (opened on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Meter()
        return _default


class Window:
    """`with joule.Window("step") as w: ...`; afterwards w.reading is a Reading.

    The window is closed even when the body raises, so energy already spent is
    never lost.
    """

    def __init__(self, name, meter=None):
        self.name = name
        self.meter = meter
        self.reading = None

    def __enter__(self):
        if self.meter is None:
            self.meter = default_meter()
        self.meter.begin(self.name)
        return self

    def __exit__(self, *exc):
        self.reading = self.meter.end(self.name)
        return False
