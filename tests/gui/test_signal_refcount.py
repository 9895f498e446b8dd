"""The Qt binding must not leak references on signal emission.

PySide6 6.12.0 loses one reference to Python's ``True`` on every emit of a signal without
arguments; a long-running app then dies with "Fatal Python error: bool_dealloc" (after about 200
quick commands, or at quit after indexing 5,000 files). pyproject.toml keeps the binding below
6.12 for that reason; when this test passes on a newer release, the pin can be lifted. The emits
run in a child process, so a binding with the bug fails this test instead of aborting the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

EMITS = 10_000
SCRIPT = f"""
import json, sys
from PySide6.QtCore import QCoreApplication, QObject, Signal

class Emitter(QObject):
    bare = Signal()
    carrying = Signal(bool)

app = QCoreApplication([])
emitter, heard = Emitter(), {{"bare": 0, "true": 0}}
emitter.bare.connect(lambda: heard.__setitem__("bare", heard["bare"] + 1))
emitter.carrying.connect(lambda value: heard.__setitem__("true", heard["true"] + (value is True)))
before = sys.getrefcount(True)
for _ in range({EMITS}):
    emitter.bare.emit()
    emitter.carrying.emit(True)
print(json.dumps({{"delta": sys.getrefcount(True) - before, "heard": heard}}))
"""


def test_ten_thousand_emits_leave_the_reference_count_of_true_unchanged() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, f"the binding crashed the process: {done.stderr[-500:]}"
    seen = json.loads(done.stdout)
    assert seen["heard"] == {"bare": EMITS, "true": EMITS}
    assert abs(seen["delta"]) < 100, f"True's reference count moved by {seen['delta']} in {2 * EMITS} emits"
