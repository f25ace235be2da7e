"""Tests of the Python binding against the built libjoule (JOULE_LIB).

Plain asserts, no third-party packages; prints "N passed, N failed".
"""
import ctypes
import os
import sys
import tempfile
import threading
import time
import traceback

import joule

TMP = tempfile.mkdtemp(dir=os.environ.get("JOULE_TEST_TMP"))
SCRIPT = os.path.join(TMP, "fake.txt")
with open(SCRIPT, "w") as f:
    f.write("domain gpu0 kind=gpu mode=counter resolution_j=0.001\n"
            "domain cpu kind=cpu mode=estimate\n"
            "domain nv kind=gpu mode=unavailable note=no driver here\n"
            "at 0 gpu0=100 cpu=10\n")


def fake_meter(**kw):
    return joule.Meter(sources="fake:" + SCRIPT, interval_ms=5, **kw)


def test_version():
    assert joule.version().startswith("0.1.0 (commit ")


def test_window_exact():
    with fake_meter() as m:
        with m.window("step") as w:
            time.sleep(0.1)
        r = w.reading
        assert r.name == "step"
        g = r.domain("gpu0")
        assert g.provenance == "measured"
        assert abs(g.energy_j - 100 * r.duration_s) < 1e-6, g
        assert r.domain("cpu").provenance == "estimated"
        nv = r.domain("nv")
        assert nv.provenance == "unavailable" and nv.energy_j is None
        assert nv.note == "no driver here"
        assert abs(r.total_energy_j - 110 * r.duration_s) < 1e-6
        assert r.total_provenance == "estimated"
        assert "mixed-provenance" in r.flags and "partial" in r.flags
        assert r.total_net_energy_j is None  # no idle baseline: None, not 0
        d = r.as_dict()
        assert d["domains"][0]["name"] == "gpu0"


def test_window_closes_on_exception():
    with fake_meter() as m:
        w = m.window("boom")
        try:
            with w:
                raise ValueError("inside")
        except ValueError:
            pass
        assert w.reading is not None and w.reading.total_energy_j > 0
        m.begin("boom")  # the name is free again
        m.end("boom")


def test_idle_net():
    with fake_meter() as m:
        m.idle(0.2)
        with m.window("w") as w:
            time.sleep(0.05)
        g = w.reading.domain("gpu0")
        assert abs(g.idle_power_w - 100) < 1e-6
        assert abs(g.net_energy_j) < 1e-6  # same power as idle


def test_errors():
    try:
        joule.Meter(sources="bogus")
        assert False, "no error"
    except joule.JouleError as e:
        assert e.status == 1 and "unknown energy source 'bogus'" in str(e)
    with fake_meter() as m:
        m.begin("a")
        try:
            m.begin("a")
            assert False
        except joule.JouleError as e:
            assert "already open" in str(e)
        try:
            m.end("nope")
            assert False
        except joule.JouleError as e:
            assert e.status == 6
    try:
        joule.Meter(colour="red")
        assert False
    except TypeError:
        pass


def test_domains_and_timeline():
    with fake_meter() as m:
        names = [d.name for d in m.domains()]
        assert names == ["gpu0", "cpu", "nv"], names
        info = m.domains()[0]
        assert info.kind == "gpu" and info.provenance == "measured" and info.in_total
        time.sleep(0.05)
        path = os.path.join(TMP, "tl.csv")
        m.write_timeline(path)
        with open(path) as f:
            assert f.readline().strip() == "t_s,gpu0_w,cpu_w,nv_w"


def test_threads():
    with fake_meter() as m:
        out = {}

        def work(i):
            with m.window("t%d" % i) as w:
                time.sleep(0.02)
            out[i] = w.reading

        ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert len(out) == 8
        for r in out.values():
            assert abs(r.domain("gpu0").energy_j - 100 * r.duration_s) < 1e-6


def test_default_meter():
    os.environ["JOULE_POWERCAP_ROOT"] = os.path.join(TMP, "none")
    os.environ["JOULE_NVML_LIB"] = os.path.join(TMP, "none.so")
    with joule.Window("default") as w:
        sum(i * i for i in range(10000))
    assert w.reading.total_provenance in ("measured", "sampled", "estimated")
    assert all(d.provenance for d in w.reading.domains)


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
