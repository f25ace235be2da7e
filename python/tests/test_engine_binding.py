"""Tests of the engine part of the Python binding against the built libjoule
(JOULE_LIB), on a tiny llama model synthesized here through joule_model_synth.

Plain asserts, no third-party packages; prints "N passed, N failed".
"""
import ctypes
import gc
import math
import os
import sys
import tempfile
import traceback
import weakref

import joule

TMP = tempfile.mkdtemp(dir=os.environ.get("JOULE_TEST_TMP"))
MODEL = os.path.join(TMP, "tiny-llama-q8_0.gguf")
PROMPTS = [
    "hello world",
    "the quick brown fox jumps over the lazy dog",
    "a",
    "energy per token is power times time",
    "one two three four five six seven eight nine ten",
]


class _SynthParams(ctypes.Structure):
    _fields_ = [
        ("arch", ctypes.c_char_p),
        ("name", ctypes.c_char_p),
        ("n_embd", ctypes.c_uint32),
        ("n_layer", ctypes.c_uint32),
        ("n_head", ctypes.c_uint32),
        ("n_head_kv", ctypes.c_uint32),
        ("n_ff", ctypes.c_uint32),
        ("n_vocab", ctypes.c_uint32),
        ("n_ctx", ctypes.c_uint32),
        ("rope_freq_base", ctypes.c_double),
        ("norm_eps", ctypes.c_double),
        ("tied_output", ctypes.c_int),
        ("tokenizer", ctypes.c_char_p),
        ("tokenizer_pre", ctypes.c_char_p),
        ("type", ctypes.c_char_p),
        ("seed", ctypes.c_uint64),
        ("n_threads", ctypes.c_uint32),
    ]


def synth(path):
    """A llama of width 128, 2 layers, 4 heads (2 KV), ffn 256, 512 tokens, Q8_0."""
    lib = ctypes.CDLL(os.environ.get("JOULE_LIB") or "libjoule.so.0")
    lib.joule_synth_default_params.restype = _SynthParams
    lib.joule_model_synth.argtypes = [ctypes.POINTER(_SynthParams), ctypes.c_char_p,
                                      ctypes.c_char_p, ctypes.c_size_t]
    lib.joule_model_synth.restype = ctypes.c_int
    p = lib.joule_synth_default_params()
    p.arch = b"llama"
    p.n_embd, p.n_layer, p.n_head, p.n_head_kv, p.n_ff = 128, 2, 4, 2, 256
    p.n_vocab, p.n_ctx = 512, 512
    p.type = b"q8_0"
    p.seed = 7
    err = ctypes.create_string_buffer(512)
    s = lib.joule_model_synth(ctypes.byref(p), os.fsencode(path), err, len(err))
    assert s == 0, err.value.decode()


synth(MODEL)


def engine(**kw):
    kw.setdefault("threads", 2)
    kw.setdefault("ctx", 128)
    return joule.Engine(MODEL, **kw)


def raises(status, fn, *args, **kw):
    """fn(*args, **kw) must raise JouleError with this status; returns its message."""
    try:
        fn(*args, **kw)
    except joule.JouleError as e:
        assert e.status == status, (e.status, str(e))
        return str(e)
    raise AssertionError("no JouleError from %s" % fn.__name__)


def test_info():
    with engine(batch=3) as e:
        i = e.info
        assert i.arch == "llama" and i.weight_type == "Q8_0", i
        assert i.n_threads == 2 and i.n_seq == 3 and i.n_ctx == 128 and i.n_batch == 512
        assert i.n_vocab == 512 and i.n_layer == 2 and i.n_embd == 128 and i.n_ctx_train == 512
        assert i.kv_type == "f16" and i.isa in ("avx512", "avx2", "scalar")
        assert i.chat_template is None
        assert i.n_params > 0 and i.model_bytes > 0 and i.state_bytes > 0
        assert i.as_dict()["arch"] == "llama"
        assert isinstance(e.now(), float)
    with engine(kv="f32", kernels="scalar", ubatch=7) as e:
        assert e.info.kv_type == "f32" and e.info.isa == "scalar" and e.info.n_batch == 7


def test_max_tokens_ignore_eos():
    with engine() as e:
        r = e.generate(PROMPTS[1], max_tokens=12, ignore_eos=True)
        assert r.n_output == 12 and len(r.tokens) == 12 and r.finish == "length", r
        assert all(isinstance(t, int) and 0 <= t < 512 for t in r.tokens)
        assert len(r.itl_s) == 11 and all(x >= 0 for x in r.itl_s)
        assert abs(sum(r.itl_s) - r.decode_s) < 1e-6
        assert r.n_input > 5 and isinstance(r.text, str)
        assert 0 <= r.queue_s <= r.ttft_s <= r.total_s and r.prefill_s > 0
        assert r.t_submit <= r.t_admit <= r.t_first_token <= r.t_done
        d = r.as_dict()
        assert d["tokens"] == r.tokens and d["finish"] == "length" and d["n_output"] == 12


def test_greedy_deterministic():
    with engine() as e:
        a = e.generate(PROMPTS[0], max_tokens=10, ignore_eos=True)
        b = e.generate(PROMPTS[0], max_tokens=10, ignore_eos=True)
    with engine(kernels="scalar") as e:
        c = e.generate(PROMPTS[0], max_tokens=10, ignore_eos=True)
    assert a.tokens == b.tokens and a.text == b.text
    assert a.id != b.id
    assert c.n_output == 10


def test_sampling_seeded():
    """The sampling options reach the library and draws repeat for a seed."""
    with engine() as e:
        kw = dict(max_tokens=10, ignore_eos=True, temperature=1.5, top_k=100, top_p=0.95)
        a = e.generate(PROMPTS[3], seed=1, **kw)
        b = e.generate(PROMPTS[3], seed=1, **kw)
        c = e.generate(PROMPTS[3], seed=2, **kw)
        assert a.tokens == b.tokens and a.text == b.text  # reproducible for a seed
        assert c.n_output == 10


def test_batch_order():
    with engine(batch=5) as e:
        solo = [e.generate(p, max_tokens=8, ignore_eos=True) for p in PROMPTS]
        rs = e.generate_batch(PROMPTS, max_tokens=8, ignore_eos=True)
        assert len(rs) == 5
        assert [r.n_input for r in rs] == [r.n_input for r in solo]
        assert len(set(r.n_input for r in rs)) == 5  # distinct: the order is visible
        assert rs[0].tokens == solo[0].tokens and rs[0].text == solo[0].text
        assert all(r.n_output == 8 and r.finish == "length" for r in rs)
        assert e.generate_batch([]) == []
        # More prompts than slots: they queue and still come back in order.
        rs = e.generate_batch(PROMPTS * 2, max_tokens=4, ignore_eos=True)
        assert [r.n_input for r in rs] == [r.n_input for r in solo] * 2
        assert rs[5].tokens[:4] == rs[0].tokens


def test_streaming():
    with engine(batch=5) as e:
        pieces = []
        r = e.generate(PROMPTS[1], max_tokens=24, ignore_eos=True, on_text=pieces.append)
        assert pieces and all(isinstance(p, str) and p for p in pieces)
        assert "".join(pieces) == r.text
        # This model answers "caf\u00e9" with bytes that are not UTF-8: U+FFFD,
        # the same in the pieces as in the whole text.
        prompts = PROMPTS + ["caf\u00e9"]
        per = {}
        rs = e.generate_batch(prompts, max_tokens=16, ignore_eos=True,
                              on_text=lambda i, p: per.setdefault(i, []).append(p))
        assert len(rs) == 6
        for i, r in enumerate(rs):
            assert "".join(per.get(i, [])) == r.text, i


def test_stop_string():
    with engine() as e:
        full = e.generate(PROMPTS[2], max_tokens=24, ignore_eos=True)
        text = full.text
        # The two valid characters whose first occurrence comes latest.
        ks = [k for k in range(len(text) - 1) if text.find(text[k:k + 2]) == k
              and "\ufffd" not in text[k:k + 2] and "\0" not in text[k:k + 2]]
        assert ks, repr(text)
        stop = text[max(ks):max(ks) + 2]
        pieces = []
        r = e.generate(PROMPTS[2], max_tokens=24, ignore_eos=True, stop=[stop, "\u2603\u2603"],
                       on_text=pieces.append)
        assert r.finish == "stop", (r, stop)
        assert r.text == text[:text.find(stop)]
        assert "".join(pieces) == r.text
        assert r.tokens == full.tokens[:r.n_output] and r.n_output < 24


def test_on_phase():
    with engine(batch=5) as e:
        calls = []
        e.on_phase = lambda begin, step: calls.append((begin, step))
        r = e.generate(PROMPTS[1], max_tokens=10, ignore_eos=True)
        assert len(calls) % 2 == 0 and calls
        prefill = decode = 0
        seen_decode = False
        for (b0, s0), (b1, s1) in zip(calls[0::2], calls[1::2]):
            assert b0 is True and b1 is False
            assert s0.step == s1.step and s0.phase == s1.phase
            assert s0.t_end is None and s1.t_end >= s1.t_begin == s0.t_begin
            assert sum(s1.tokens_of) == s1.n_tokens and len(s1.ids) == s1.n_requests
            assert s1.ids == [r.id]
            if s1.phase == "prefill":
                assert not seen_decode, "prefill after decode"
                prefill += s1.n_tokens
            else:
                assert s1.phase == "decode"
                seen_decode = True
                decode += s1.n_tokens
        assert calls[0][1].phase == "prefill" and seen_decode
        assert prefill == r.n_input
        assert decode == r.n_output - 1  # the first token comes out of the prefill
        steps = [s.step for b, s in calls if b]
        assert steps == list(range(steps[0], steps[0] + len(steps)))

        calls.clear()
        rs = e.generate_batch(PROMPTS, max_tokens=6, ignore_eos=True)
        ends = [s for b, s in calls if not b]
        assert sum(s.n_tokens for s in ends if s.phase == "prefill") == sum(
            r.n_input for r in rs)
        assert sum(s.n_tokens for s in ends if s.phase == "decode") == sum(
            r.n_output - 1 for r in rs)
        assert max(s.n_requests for s in ends if s.phase == "decode") == 5

        e.on_phase = None
        calls.clear()
        e.generate(PROMPTS[0], max_tokens=3)
        assert calls == []


def test_phase_meter_windows():
    """The docstring's recipe: a fake meter's window around every step."""
    script = os.path.join(TMP, "fake.txt")
    with open(script, "w") as f:
        f.write("domain gpu0 kind=gpu mode=counter resolution_j=0.001\nat 0 gpu0=100\n")
    energy = {"prefill": 0.0, "decode": 0.0}
    seconds = {"prefill": 0.0, "decode": 0.0}
    with joule.Meter(sources="fake:" + script, interval_ms=5) as meter, engine() as e:
        def per_phase(begin, step):
            if begin:
                meter.begin(step.phase)
            else:
                reading = meter.end(step.phase)
                energy[step.phase] += reading.total_energy_j or 0.0
                seconds[step.phase] += reading.duration_s
        e.on_phase = per_phase
        r = e.generate(PROMPTS[1], max_tokens=8, ignore_eos=True)
        meter.begin("prefill")  # every window was closed
        meter.end("prefill")
    assert r.n_output == 8
    for ph in ("prefill", "decode"):
        assert energy[ph] > 0 and abs(energy[ph] - 100 * seconds[ph]) < 1e-6, (ph, energy)


def test_callback_exceptions():
    with engine(batch=2) as e:
        ref = e.generate(PROMPTS[0], max_tokens=8, ignore_eos=True)

        class Boom(Exception):
            pass

        n = [0]

        def bad_text(piece):
            n[0] += 1
            if n[0] == 3:
                raise Boom("from on_text")

        try:
            e.generate(PROMPTS[0], max_tokens=50, ignore_eos=True, on_text=bad_text)
            assert False, "no exception"
        except Boom as x:
            assert str(x) == "from on_text" and x.__traceback__ is not None
        assert n[0] == 3  # nothing more was streamed after the failure

        def bad_phase(begin, step):
            if step.phase == "decode":
                raise KeyError("from on_phase")

        e.on_phase = bad_phase
        try:
            e.generate_batch(PROMPTS[:3], max_tokens=50, ignore_eos=True)
            assert False, "no exception"
        except KeyError:
            pass
        e.on_phase = None
        # The engine is idle and usable: same greedy output as before.
        again = e.generate(PROMPTS[0], max_tokens=8, ignore_eos=True)
        assert again.tokens == ref.tokens

        def reenter(piece):
            e.generate("x", max_tokens=1)

        msg = raises(7, e.generate, PROMPTS[0], max_tokens=4, on_text=reenter)
        assert "callbacks" in msg
        assert e.generate(PROMPTS[0], max_tokens=8, ignore_eos=True).tokens == ref.tokens


def test_open_errors():
    missing = os.path.join(TMP, "no-such-model.gguf")
    msg = raises(3, joule.Engine, missing)
    assert missing in msg, msg
    msg = raises(1, joule.Engine, MODEL, kernels="sse9")
    assert "sse9" in msg and "unknown kernel level" in msg, msg
    raises(1, joule.Engine, MODEL, kv="q8")
    raises(1, joule.Engine, MODEL, batch=0)
    junk = os.path.join(TMP, "junk.gguf")
    with open(junk, "wb") as f:
        f.write(b"not a model at all")
    msg = raises(4, joule.Engine, junk)
    assert junk in msg, msg


def test_request_errors():
    with engine(batch=2) as e:
        assert "empty" in raises(1, e.generate, "")
        assert "max_tokens" in raises(1, e.generate, "hi", max_tokens=0)
        raises(1, e.generate, "hi", stop=["x"] * 9)
        assert "stop string 1 is empty" in raises(1, e.generate, "hi", stop="")
        raises(1, e.generate, "hi", seed=-1)
        raises(5, e.generate, "hi", chat=True)  # the model has no template
        assert "prompt 2: " in raises(1, e.generate_batch, ["a", "", "b"])
        assert "context" in raises(1, e.generate, "word " * 300)
        try:
            e.generate_batch("not a list")
            assert False
        except TypeError:
            pass
        r = e.generate_batch(["a", "b"], max_tokens=2, ignore_eos=True)
        assert [x.n_output for x in r] == [2, 2]
    raises(7, e.generate, "hi")
    e.close()  # idempotent


def test_chat():
    with engine() as e:
        plain = e.generate(PROMPTS[0], max_tokens=3, ignore_eos=True)
        r = e.generate(PROMPTS[0], max_tokens=3, ignore_eos=True, chat=True,
                       chat_template="chatml", system="You are terse.")
        assert r.n_input >= 1 and r.n_output == 3 and plain.n_output == 3
        raises(1, e.generate, "hi", chat=True, chat_template="no-such-template")


def test_bytes_and_unicode():
    with engine() as e:
        a = e.generate("caf\u00e9 \u2603", max_tokens=4, ignore_eos=True)
        b = e.generate("caf\u00e9 \u2603".encode(), max_tokens=4, ignore_eos=True)
        assert a.tokens == b.tokens and a.n_input == b.n_input


def test_dropped_without_close():
    for _ in range(3):
        e = engine()
        e.on_phase = (lambda eng: lambda begin, step: eng.info)(e)  # a cycle through the hook
        e.generate("hi", max_tokens=2)
        w = weakref.ref(e)
        del e
        gc.collect()
        assert w() is None  # collected (and closed), the cycle notwithstanding
    e = engine()
    r = e.generate("hi", max_tokens=2, ignore_eos=True)
    assert r.n_output == 2 and math.isfinite(r.total_s)
    del e


def main():
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_")]
    passed = failed = 0
    for t in tests:
        try:
            t()
            passed += 1
        except Exception:
            failed += 1
            print("FAIL:", t.__name__, file=sys.stderr)
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
