"""sst-hw: structured sparse ternary networks to FPGA hardware (see README.md).

Importing the package pins OpenBLAS's kernels on x86-64 (below), so that
training gives the same model on every x86-64 machine.
"""

import os as _os
import platform as _platform
import sys as _sys

#: OpenBLAS picks its kernels per CPU (Haswell, SkylakeX, Zen...), and their
#: summation orders differ in the last bits, which training amplifies into
#: other codes. The Haswell (AVX2) kernels run on every x86-64 CPU of the last
#: decade; pinning them makes `sst-hw train` reproducible across machines.
#: The pin must precede NumPy's import; a value already in the environment wins.
BLAS_CORETYPE = "Haswell"

if _platform.machine().lower() in ("x86_64", "amd64") and "numpy" not in _sys.modules:
    _os.environ.setdefault("OPENBLAS_CORETYPE", BLAS_CORETYPE)
