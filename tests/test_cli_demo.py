import subprocess
import sys


def test_seqlab_demo_prints_parity_and_timing():
    cmd = [sys.executable, "-m", "seqlab.cli", "demo", "--batch-size", "8", "--steps", "20"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    diff = float(r.stdout.split("max |output difference|")[1].split()[0])
    assert diff < 1e-5
    assert "ratio" in r.stdout
