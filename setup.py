"""Optional native build of the request path.

The modules below are plain, strictly typed Python. With SHADOWMESH_COMPILE=1 they are
compiled to C extensions by mypyc (part of mypy), which removes most of the interpreter's
per-request cost: attribute access, calls between our own classes and small loops become
C. Everything else (config, control plane, admin, CLI) stays interpreted: it is not on the
path of a request. Without the variable this is a pure-Python package, and it behaves the
same, only slower.

    SHADOWMESH_COMPILE=1 python setup.py build_ext --inplace    # what `make build` runs
"""

from __future__ import annotations

import os
import runpy

from setuptools import setup

# One list, kept with the package (shadowmesh/native.py), which also reports at run time
# whether the compiled modules are in use.
_NATIVE = runpy.run_path("src/shadowmesh/native.py")
COMPILED_MODULES = [
    "src/" + module.replace(".", "/") + ".py" for module in _NATIVE["NATIVE_MODULES"]
]

ext_modules = []
if os.environ.get("SHADOWMESH_COMPILE") == "1":
    from mypyc.build import mypycify

    ext_modules = mypycify(COMPILED_MODULES, opt_level="3")

setup(ext_modules=ext_modules)
