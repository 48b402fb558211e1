"""The clocks the request path reads, bound once.

Compiled, `time.monotonic()` looks `monotonic` up in the `time` module's attributes on every
call (a few hundred instructions, several times per request); a `Final` here is a static
that the compiled callers reach directly.
"""

from __future__ import annotations

import time
from typing import Final

monotonic: Final = time.monotonic
wall_time: Final = time.time
