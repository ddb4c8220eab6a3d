"""specc: a declarative agent-spec compiler and sandboxed runtime.

`compile_source(text, path)` is the public door into the compiler; the runtime lives in
`specc.runtime` and is never imported by the compiler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Compilation", "compile_source", "compile_file", "__version__"]

if TYPE_CHECKING:
    from specc.compiler import Compilation, compile_file, compile_source


def __getattr__(name: str) -> Any:
    # Imported lazily so that `import specc` stays cheap for the CLI's fast paths.
    if name in ("Compilation", "compile_source", "compile_file"):
        from specc import compiler

        return getattr(compiler, name)
    raise AttributeError(name)
