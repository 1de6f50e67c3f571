"""One thread at a time builds a Python AST (loaded into the schemathesis venv by a .pth file).

CPython 3.11 keeps the AST constructor's recursion depth in interpreter-wide state, so two
threads building ASTs at once (hypothesis describes lambdas with `ast.parse`, one per worker)
can trip "SystemError: AST constructor recursion depth mismatch" (cpython gh-106905). It
crashed schemathesis runs on GET /data/v1/{entity} with some seeds and, once, with a seed that
had passed before. Serialising `compile(..., ast.PyCF_ONLY_AST)`, which `ast.parse` calls,
removes the race; other compiles are untouched.
"""

import ast
import builtins
import threading

_lock = threading.RLock()
_compile = builtins.compile


def _serialised_compile(source, filename, mode, flags=0, *args, **kwargs):
    if flags & ast.PyCF_ONLY_AST:
        with _lock:
            return _compile(source, filename, mode, flags, *args, **kwargs)
    return _compile(source, filename, mode, flags, *args, **kwargs)


builtins.compile = _serialised_compile
