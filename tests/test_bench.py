"""The benchmark's quick mode runs end to end and reports every section (no timing asserted)."""

import json
import subprocess
import sys


def test_bench_quick_json_has_every_section():
    result = subprocess.run([sys.executable, "-m", "seqrev", "bench", "--quick", "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for kind in ("plain", "attention"):
        step = report["training_step_lab_settings"][kind]
        assert step["reference_ms"] > 0 and step["seqrev_ms"] > 0
        assert abs(step["speedup"] - step["reference_ms"] / step["seqrev_ms"]) < 0.02
        latency = report["decode_latency"][kind]
        assert set(latency) == {"greedy_10_ms", "greedy_32_ms", "greedy_64_ms", "beam5_10_ms"}
    assert report["analysis_latency"]["strings"] == 1000
    assert {(r["model"], r["length"], r["hidden"]) for r in report["scaling"]["rows"]} >= {
        ("plain", 40, 100), ("attention", 10, 256)}
    assert report["machine"]["cores"] >= 1
