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

The built-in inference engine runs a GGUF model (llama, qwen2, phi3) on the
CPU; its phase hook wraps a meter window around every forward pass, so
prefill (input tokens) and decode (output tokens) get their own energy:

    meter = joule.Meter()
    energy = {"prefill": 0.0, "decode": 0.0}

    def per_phase(begin, step):              # before and after each step
        if begin:
            meter.begin(step.phase)
        else:
            energy[step.phase] += meter.end(step.phase).total_energy_j or 0.0

    with joule.Engine("model.gguf", batch=4) as engine:
        engine.on_phase = per_phase
        r = engine.generate("Once upon a time", max_tokens=64,
                            on_text=lambda piece: print(piece, end=""))
        print(r.n_output, r.finish, r.ttft_s, energy)
        results = engine.generate_batch(["a", "b", "c", "d"], max_tokens=32)

The library is found through $JOULE_LIB, next to an installed package, or on
the system library path.
"""

import codecs
import ctypes
import ctypes.util
import math
import os
import threading
import weakref

__all__ = ["Meter", "Window", "Reading", "DomainReading", "DomainInfo", "JouleError",
           "default_meter", "version", "Engine", "EngineInfo", "Result", "Step"]

MAX_DOMAINS = 32
NAME_MAX = 64
NOTE_MAX = 256
MAX_STOP = 8

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
        ("gpus", ctypes.c_char_p),
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


# --- the built-in inference engine (mirrors of joule.h) ----------------------

class _EngineParams(ctypes.Structure):
    _fields_ = [
        ("n_threads", ctypes.c_int32),
        ("n_seq", ctypes.c_int32),
        ("n_ctx", ctypes.c_int32),
        ("n_batch", ctypes.c_int32),
        ("kv_f32", ctypes.c_int),
        ("isa", ctypes.c_char_p),
        ("int8_threshold", ctypes.c_float),
    ]


class _EngineInfo(ctypes.Structure):
    _fields_ = [
        ("arch", ctypes.c_char_p),
        ("weight_type", ctypes.c_char_p),
        ("isa", ctypes.c_char_p),
        ("kv_type", ctypes.c_char_p),
        ("n_params", ctypes.c_int64),
        ("model_bytes", ctypes.c_int64),
        ("state_bytes", ctypes.c_int64),
        ("n_vocab", ctypes.c_int32),
        ("n_ctx_train", ctypes.c_int32),
        ("n_layer", ctypes.c_int32),
        ("n_embd", ctypes.c_int32),
        ("n_threads", ctypes.c_int32),
        ("n_seq", ctypes.c_int32),
        ("n_ctx", ctypes.c_int32),
        ("n_batch", ctypes.c_int32),
        ("chat_template", ctypes.c_char_p),
        ("int8_threshold", ctypes.c_float),
        ("int8_columns", ctypes.c_int64),
        ("int8_outliers", ctypes.c_int64),
    ]


class _Sampling(ctypes.Structure):
    _fields_ = [
        ("temperature", ctypes.c_float),
        ("top_k", ctypes.c_int32),
        ("top_p", ctypes.c_float),
        ("min_p", ctypes.c_float),
        ("repeat_penalty", ctypes.c_float),
        ("repeat_last_n", ctypes.c_int32),
        ("seed", ctypes.c_uint64),
    ]


class _Request(ctypes.Structure):
    _fields_ = [
        ("prompt", ctypes.c_char_p),
        ("prompt_len", ctypes.c_size_t),
        ("chat", ctypes.c_int),
        ("chat_template", ctypes.c_char_p),
        ("system", ctypes.c_char_p),
        ("tokens", ctypes.POINTER(ctypes.c_int32)),
        ("n_tokens", ctypes.c_size_t),
        ("max_tokens", ctypes.c_int32),
        ("ignore_eos", ctypes.c_int),
        ("stop", ctypes.c_char_p * MAX_STOP),
        ("sampling", _Sampling),
        ("user", ctypes.c_void_p),
    ]


class _RequestResult(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_uint64),
        ("user", ctypes.c_void_p),
        ("finish", ctypes.c_int),
        ("n_input", ctypes.c_int32),
        ("n_output", ctypes.c_int32),
        ("t_submit", ctypes.c_double),
        ("t_admit", ctypes.c_double),
        ("t_first_token", ctypes.c_double),
        ("t_done", ctypes.c_double),
        ("queue_s", ctypes.c_double),
        ("prefill_s", ctypes.c_double),
        ("ttft_s", ctypes.c_double),
        ("decode_s", ctypes.c_double),
        ("total_s", ctypes.c_double),
        ("itl_s", ctypes.POINTER(ctypes.c_double)),
        ("tokens", ctypes.POINTER(ctypes.c_int32)),
        ("text", ctypes.POINTER(ctypes.c_char)),  # text_len bytes (may hold NUL)
        ("text_len", ctypes.c_size_t),
    ]


class _StepInfo(ctypes.Structure):
    _fields_ = [
        ("phase", ctypes.c_int),
        ("step", ctypes.c_uint64),
        ("n_tokens", ctypes.c_int32),
        ("n_requests", ctypes.c_int32),
        ("ids", ctypes.POINTER(ctypes.c_uint64)),
        ("tokens_of", ctypes.POINTER(ctypes.c_int32)),
        ("t_begin", ctypes.c_double),
        ("t_end", ctypes.c_double),
    ]


_ON_PHASE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(_StepInfo))
_ON_TEXT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p,
                            ctypes.POINTER(ctypes.c_char), ctypes.c_size_t)
_ON_DONE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(_RequestResult))


class _Callbacks(ctypes.Structure):
    _fields_ = [
        ("on_phase", _ON_PHASE),
        ("on_text", _ON_TEXT),
        ("on_done", _ON_DONE),
        ("user", ctypes.c_void_p),
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
        lib.joule_engine_default_params.argtypes = [P(_EngineParams)]
        lib.joule_engine_default_params.restype = None
        lib.joule_engine_open.argtypes = [ctypes.c_char_p, P(_EngineParams), P(ctypes.c_void_p),
                                          ctypes.c_char_p, ctypes.c_size_t]
        lib.joule_engine_open.restype = ctypes.c_int
        lib.joule_engine_close.argtypes = [ctypes.c_void_p]
        lib.joule_engine_close.restype = None
        lib.joule_engine_get_info.argtypes = [ctypes.c_void_p, P(_EngineInfo)]
        lib.joule_engine_get_info.restype = None
        lib.joule_request_default.argtypes = [P(_Request)]
        lib.joule_request_default.restype = None
        lib.joule_finish_str.argtypes = [ctypes.c_int]
        lib.joule_finish_str.restype = ctypes.c_char_p
        lib.joule_engine_set_callbacks.argtypes = [ctypes.c_void_p, P(_Callbacks)]
        lib.joule_engine_set_callbacks.restype = None
        lib.joule_engine_submit.argtypes = [ctypes.c_void_p, P(_Request), P(ctypes.c_uint64),
                                            ctypes.c_char_p, ctypes.c_size_t]
        lib.joule_engine_submit.restype = ctypes.c_int
        lib.joule_engine_step.argtypes = [ctypes.c_void_p, P(ctypes.c_int), ctypes.c_char_p,
                                          ctypes.c_size_t]
        lib.joule_engine_step.restype = ctypes.c_int
        lib.joule_engine_pending.argtypes = [ctypes.c_void_p]
        lib.joule_engine_pending.restype = ctypes.c_int32
        lib.joule_engine_cancel.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        lib.joule_engine_cancel.restype = ctypes.c_int
        lib.joule_engine_now.argtypes = [ctypes.c_void_p]
        lib.joule_engine_now.restype = ctypes.c_double
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


# --- the built-in inference engine -------------------------------------------

_ERR_SIZE = 1024
_ERR_INVALID = 1
_ERR_STATE = 7
PHASES = {1: "prefill", 2: "decode"}


def _str(b):
    return None if b is None else b.decode("utf-8", "replace")


class EngineInfo:
    """What an engine runs: the fields of struct joule_engine_info.

    arch ("llama", "qwen2", "phi3"), weight_type ("Q4_0"), isa (kernels in
    use), kv_type ("f16", "f32"), n_params, model_bytes, state_bytes,
    n_vocab, n_ctx_train, n_layer, n_embd, n_threads, n_seq (the batch),
    n_ctx, n_batch (prefill tokens per step), chat_template (None when the
    model has none joule recognises), int8_threshold (< 0: the int8 mode is
    off), int8_columns and int8_outliers (its counters when the engine was
    described).
    """

    def __init__(self, i):
        for name, _ in _EngineInfo._fields_:
            v = getattr(i, name)
            setattr(self, name, _str(v) if v is None or isinstance(v, bytes) else v)

    def as_dict(self):
        return vars(self).copy()

    def __repr__(self):
        return "<EngineInfo %s %s, %s kernels, %d threads, batch %d, ctx %d>" % (
            self.arch, self.weight_type, self.isa, self.n_threads, self.n_seq, self.n_ctx)


class Step:
    """One engine step, as handed to Engine.on_phase.

    phase is "prefill" or "decode"; step counts steps from 0 over the
    engine's life; n_tokens tokens of n_requests requests went through the
    forward pass, ids[i] (Result.id) contributing tokens_of[i].  t_begin and
    t_end are engine clock times (Engine.now()); t_end is None in the
    "begin" call.
    """

    __slots__ = ("phase", "step", "n_tokens", "n_requests", "ids", "tokens_of", "t_begin",
                 "t_end")

    def __init__(self, s):
        n = s.n_requests
        self.phase = PHASES.get(s.phase, "unknown")
        self.step = s.step
        self.n_tokens = s.n_tokens
        self.n_requests = n
        self.ids = s.ids[:n] if n > 0 and s.ids else []
        self.tokens_of = s.tokens_of[:n] if n > 0 and s.tokens_of else []
        self.t_begin = _num(s.t_begin)
        self.t_end = _num(s.t_end)

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self):
        return "<Step %d %s: %d tokens of %d requests>" % (self.step, self.phase, self.n_tokens,
                                                          self.n_requests)


class Result:
    """What one request produced and cost (struct joule_request_result, copied).

    text (UTF-8 decoded with errors="replace"), tokens (generated ids),
    finish ("eos", "length", "stop", "cancelled"), n_input (prompt tokens),
    n_output (generated tokens, the end-of-generation one included), id;
    engine clock times t_submit, t_admit, t_first_token, t_done; durations
    in seconds queue_s, prefill_s, ttft_s, decode_s, total_s and itl_s, the
    n_output - 1 inter-token latencies.
    """

    def __init__(self, r, text, finish):
        self.id = r.id
        self.text = text
        self.finish = finish
        self.n_input = r.n_input
        self.n_output = r.n_output
        n = r.n_output
        self.tokens = r.tokens[:n] if n > 0 and r.tokens else []
        self.itl_s = r.itl_s[:n - 1] if n > 1 and r.itl_s else []
        for name in ("t_submit", "t_admit", "t_first_token", "t_done", "queue_s", "prefill_s",
                     "ttft_s", "decode_s", "total_s"):
            setattr(self, name, _num(getattr(r, name)))

    def as_dict(self):
        out = vars(self).copy()
        out["tokens"] = list(self.tokens)
        out["itl_s"] = list(self.itl_s)
        return out

    def __repr__(self):
        return "<Result %d: %d in, %d out, %s, %.3f s>" % (self.id, self.n_input, self.n_output,
                                                         self.finish, self.total_s or 0.0)


class _Run:
    """The state of one generate call, read by the callbacks."""

    def __init__(self, n, on_text, batch):
        self.index = {}                  # request id -> position in the call
        self.results = [None] * n
        self.on_text = on_text
        self.batch = batch
        self.decoders = {}               # request id -> incremental UTF-8 decoder
        self.exc = None                  # the first exception a callback raised

    def fail(self, exc):
        if self.exc is None:
            self.exc = exc


def _utf8_decoder():
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


class Engine:
    """The built-in inference engine on the GGUF model at path.

    Engine(path, threads=0, batch=1, ctx=0, ubatch=512, kv="f16",
    kernels="auto") mirrors struct joule_engine_params: threads (0: the
    physical cores, the caller's thread included), batch (requests running
    at once, n_seq), ctx (positions per request, prompt and output; 0:
    2048, at most the model's training context), ubatch (prompt tokens per
    prefill step, n_batch), kv ("f16" or "f32" KV cache), kernels ("auto",
    "avx512", "avx2", "scalar"), int8_threshold (None: off; 0: pure INT8;
    > 0: the LLM.int8 outlier threshold; on a Q8_0 or int8 file).
    JouleError on failure, with the library's message naming the file.
    close() it, or use it as a context manager.

    on_phase: None, or callable(begin, step) run just before (begin True)
    and just after (begin False) every forward pass; step is a Step.  Each
    step is one phase only, so a meter window opened at begin and closed at
    end measures that phase alone:

        def per_phase(begin, step):
            if begin:
                meter.begin(step.phase)
            else:
                r = meter.end(step.phase)
                energy[step.phase] += r.total_energy_j or 0.0
                tokens[step.phase] += step.n_tokens
        engine.on_phase = per_phase

    Keep the hook short: it runs inside the engine's loop.  An exception
    raised in any callback (on_phase, on_text) stops the call: the
    remaining requests are cancelled and the exception is raised from
    generate() once the library has returned.  The engine stays usable.

    One thread drives an engine at a time (other threads wait); generate()
    and close() must not be called from inside its callbacks.
    """

    def __init__(self, path, threads=0, batch=1, ctx=0, ubatch=512, kv="f16", kernels="auto",
                 int8_threshold=None):
        self._h = None
        lib = _load()
        if kv not in ("f16", "f32"):
            raise JouleError(_ERR_INVALID, "kv must be 'f16' or 'f32', not %r" % (kv,))
        p = _EngineParams()
        lib.joule_engine_default_params(ctypes.byref(p))
        p.n_threads = threads
        p.n_seq = batch
        p.n_ctx = ctx
        p.n_batch = ubatch
        p.kv_f32 = 1 if kv == "f32" else 0
        p.isa = None if kernels is None else kernels.encode()
        if int8_threshold is not None:
            p.int8_threshold = float(int8_threshold)
        err = ctypes.create_string_buffer(_ERR_SIZE)
        h = ctypes.c_void_p()
        s = lib.joule_engine_open(os.fsencode(path), ctypes.byref(p), ctypes.byref(h), err,
                                  len(err))
        if s != 0:
            raise JouleError(s, _str(err.value) or lib.joule_status_str(s).decode())
        self._h = h
        self.path = os.fspath(path)
        i = _EngineInfo()
        lib.joule_engine_get_info(h, ctypes.byref(i))
        self.info = EngineInfo(i)
        self.on_phase = None
        self._lock = threading.Lock()
        self._owner = None
        self._run = None
        # The C side holds raw pointers to these trampolines: they live as
        # long as the engine.  They reach it through a weak reference, so no
        # cycle keeps a dropped engine (and its mapped model) alive.
        ref = weakref.ref(self)

        def on_phase(user, begin, step):
            e = ref()
            if e is not None:
                e._on_phase(begin, step)

        def on_text(user, rid, req_user, text, n):
            e = ref()
            if e is not None:
                e._on_text(rid, text, n)

        def on_done(user, r):
            e = ref()
            if e is not None:
                e._on_done(r)

        self._c_on_phase = _ON_PHASE(on_phase)
        self._c_on_text = _ON_TEXT(on_text)
        self._c_on_done = _ON_DONE(on_done)

    # -- callbacks (run inside the C call; never let an exception out) --------

    def _on_phase(self, begin, step):
        run, hook = self._run, self.on_phase
        if run is None or run.exc is not None or hook is None:
            return
        try:
            hook(bool(begin), Step(step.contents))
        except BaseException as x:  # must not unwind through C: raised after the call
            run.fail(x)

    def _deliver(self, run, rid, piece):
        if not piece or run.exc is not None:
            return
        if run.batch:
            run.on_text(run.index[rid], piece)
        else:
            run.on_text(piece)

    def _on_text(self, rid, text, n):
        run = self._run
        if run is None or run.on_text is None or rid not in run.index:
            return
        try:
            dec = run.decoders.get(rid)
            if dec is None:
                dec = run.decoders[rid] = _utf8_decoder()
            self._deliver(run, rid, dec.decode(ctypes.string_at(text, n)))
        except BaseException as x:
            run.fail(x)

    def _on_done(self, rp):
        run = self._run
        if run is None:
            return
        try:
            r = rp.contents
            i = run.index.get(r.id)
            if i is None:
                return
            text = ctypes.string_at(r.text, r.text_len) if r.text_len else b""
            finish = _load().joule_finish_str(r.finish).decode()
            run.results[i] = Result(r, text.decode("utf-8", "replace"), finish)
            dec = run.decoders.pop(r.id, None)
            if dec is not None:
                self._deliver(run, r.id, dec.decode(b"", True))
        except BaseException as x:
            run.fail(x)

    # -- handle -----------------------------------------------------------------

    def _handle(self):
        if not self._h:
            raise JouleError(_ERR_STATE, "the engine is closed")
        return self._h

    def _enter(self):
        if self._owner == threading.get_ident():
            raise JouleError(_ERR_STATE, "the engine is running: generate() and close() "
                                         "cannot be called from its callbacks")
        self._lock.acquire()
        self._owner = threading.get_ident()

    def _leave(self):
        self._owner = None
        self._lock.release()

    def close(self):
        """Release the model and the threads (idempotent)."""
        if not self._h:
            return
        self._enter()
        try:
            if self._h:
                _load().joule_engine_close(self._h)
                self._h = None
        finally:
            self._leave()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if self._h and self._owner is None:
                _load().joule_engine_close(self._h)
                self._h = None
        except Exception:
            pass

    def __repr__(self):
        if not self._h:
            return "<Engine (closed)>"
        return "<Engine %s: %s %s, %d threads, batch %d>" % (
            self.path, self.info.arch, self.info.weight_type, self.info.n_threads,
            self.info.n_seq)

    def now(self):
        """The engine's clock (monotonic seconds): the time base of Result and Step."""
        return _load().joule_engine_now(self._handle())

    # -- generating -------------------------------------------------------------

    @staticmethod
    def _request(max_tokens, temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n,
                 seed, stop, chat, chat_template, system, ignore_eos):
        r = _Request()
        _load().joule_request_default(ctypes.byref(r))
        if stop is None:
            stop = []
        elif isinstance(stop, (str, bytes)):
            stop = [stop]
        stop = [x.encode() if isinstance(x, str) else bytes(x) for x in stop]
        if len(stop) > MAX_STOP:
            raise JouleError(_ERR_INVALID, "at most %d stop strings, not %d" % (MAX_STOP,
                                                                                len(stop)))
        if seed < 0:
            raise JouleError(_ERR_INVALID, "seed %d is negative" % seed)
        r.max_tokens = max_tokens
        r.ignore_eos = 1 if ignore_eos else 0
        r.chat = 1 if chat else 0
        r.chat_template = None if chat_template is None else chat_template.encode()
        r.system = None if system is None else system.encode()
        for i, x in enumerate(stop):
            r.stop[i] = x
        s = r.sampling
        s.temperature = temperature
        s.top_k = top_k
        s.top_p = top_p
        s.min_p = min_p
        s.repeat_penalty = repeat_penalty
        s.repeat_last_n = repeat_last_n
        s.seed = seed
        return r

    def _drive(self, prompts, req, on_text, batch):
        lib, h = _load(), self._handle()
        self._enter()
        try:
            return self._drive_locked(lib, h, prompts, req, on_text, batch)
        finally:
            self._run = None
            if self._h:
                lib.joule_engine_set_callbacks(self._h, None)
            self._leave()

    def _drive_locked(self, lib, h, prompts, req, on_text, batch):
        if not self._h:
            raise JouleError(_ERR_STATE, "the engine is closed")
        run = _Run(len(prompts), on_text, batch)
        self._run = run
        cb = _Callbacks(self._c_on_phase if self.on_phase is not None else _ON_PHASE(),
                        self._c_on_text if on_text is not None else _ON_TEXT(),
                        self._c_on_done, None)
        lib.joule_engine_set_callbacks(h, ctypes.byref(cb))
        err = ctypes.create_string_buffer(_ERR_SIZE)
        ran = ctypes.c_int()
        try:
            for i, prompt in enumerate(prompts):
                text = prompt.encode() if isinstance(prompt, str) else bytes(prompt)
                req.prompt = text
                req.prompt_len = len(text)
                rid = ctypes.c_uint64()
                s = lib.joule_engine_submit(h, ctypes.byref(req), ctypes.byref(rid), err,
                                            len(err))
                if s != 0:
                    where = "prompt %d: " % (i + 1) if batch else ""
                    raise JouleError(s, where + (_str(err.value) or
                                                 lib.joule_status_str(s).decode()))
                run.index[rid.value] = i
            while run.exc is None and lib.joule_engine_pending(h) > 0:
                s = lib.joule_engine_step(h, ctypes.byref(ran), err, len(err))
                if s != 0:
                    raise JouleError(s, _str(err.value) or lib.joule_status_str(s).decode())
                if not ran.value:
                    break
        except BaseException as x:
            run.fail(x)
        if run.exc is not None:
            # Cancel what is left and let it finish, so the engine holds
            # nothing of this call; then raise what went wrong.
            for rid in run.index:
                lib.joule_engine_cancel(h, rid)
            while lib.joule_engine_pending(h) > 0:
                if lib.joule_engine_step(h, ctypes.byref(ran), err, len(err)) != 0:
                    break
                if not ran.value and lib.joule_engine_pending(h) > 0:
                    break
            exc, run.exc = run.exc, None
            raise exc
        for i, r in enumerate(run.results):
            if r is None:
                raise JouleError(_ERR_STATE, "request %d did not finish" % (i + 1))
        return run.results

    def generate(self, prompt, max_tokens=128, temperature=0.0, top_k=0, top_p=1.0, min_p=0.0,
                 repeat_penalty=1.0, repeat_last_n=64, seed=42, stop=None, chat=False,
                 chat_template=None, system=None, ignore_eos=False, on_text=None):
        """Generate from one prompt (str or UTF-8 bytes); returns a Result.

        Sampling: temperature 0 is greedy; top_k 0, top_p 1, min_p 0 and
        repeat_penalty 1 are off; draws are reproducible for a seed.  stop:
        a string or up to 8 (cut from the text).  chat wraps the prompt as a
        user message in the model's chat template (or chat_template:
        "chatml", "llama-3" ...), after an optional system message.
        ignore_eos goes on past end-of-generation tokens.  on_text(str) is
        called with the text as it is generated (the pieces add up to
        Result.text).  JouleError for a rejected request or a failed step.
        """
        req = self._request(max_tokens, temperature, top_k, top_p, min_p, repeat_penalty,
                            repeat_last_n, seed, stop, chat, chat_template, system, ignore_eos)
        return self._drive([prompt], req, on_text, False)[0]

    def generate_batch(self, prompts, max_tokens=128, temperature=0.0, top_k=0, top_p=1.0,
                       min_p=0.0, repeat_penalty=1.0, repeat_last_n=64, seed=42, stop=None,
                       chat=False, chat_template=None, system=None, ignore_eos=False,
                       on_text=None):
        """Submit every prompt at once and run them; Results in the order of prompts.

        Up to `batch` (Engine(batch=...)) requests run together; a finished
        one's slot takes the next queued prompt at the next step.  The
        options are those of generate() and apply to every prompt; here
        on_text is called as on_text(index, str), index into prompts.
        A rejected prompt raises JouleError("prompt N: ...") and nothing runs.
        """
        if isinstance(prompts, (str, bytes)):
            raise TypeError("generate_batch takes a list of prompts; use generate for one")
        prompts = list(prompts)
        if not prompts:
            return []
        req = self._request(max_tokens, temperature, top_k, top_p, min_p, repeat_penalty,
                            repeat_last_n, seed, stop, chat, chat_template, system, ignore_eos)
        return self._drive(prompts, req, on_text, True)
