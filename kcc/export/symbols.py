"""The global names of the generated unit: what an export's CMake renames.

An export compiles src/model.cpp twice on x86-64 (a generic object and an AVX-512 one, see
CMakeLists.txt.j2) and links both into one library. Under the one-definition rule the two
objects must share no external name, or the linker keeps one copy of an inline function
(say the AVX-512 one) for both and the generic path crashes on an older CPU. The header
code lives in namespace `kcc` (renamed as a whole with -Dkcc=...); what is left are the
unit's extern "C" functions and the few non-namespaced inline functions of the headers
(kcc_slice), found here so that the CMake file renames each.
"""
from __future__ import annotations

import re
from pathlib import Path

_EXTERN_C_FN = re.compile(r'^\s*extern\s+"C"\s+[^;{(]*?\b([A-Za-z_]\w*)\s*\(', re.MULTILINE)
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_STRING = re.compile(r'"(?:\\.|[^"\\\n])*"')
# a function definition's head at the start of a statement: "inline int64_t kcc_slice("
_FN_HEAD = re.compile(r"^\s*(?:inline|static|KCC_HD)\b[^;{}()=]*?\b([A-Za-z_]\w*)\s*\(")
_OPEN = re.compile(r'\bnamespace\b[^;{]*\{|\bextern\s+""\s*\{|\{|\}')   # strings are "" by then


def extern_c_functions(source: str) -> list[str]:
    """The extern "C" functions `source` defines or declares, in order, once each."""
    return list(dict.fromkeys(_EXTERN_C_FN.findall(_COMMENT.sub("", source))))


def global_functions(header: str) -> list[str]:
    """Inline (or static) functions a header defines outside every namespace, extern "C"
    blocks included: the names a -Dkcc=... rename does not reach."""
    text = _STRING.sub('""', _COMMENT.sub("", header))
    text = re.sub(r"^\s*#.*$", "", text, flags=re.MULTILINE)     # preprocessor lines
    names, stack = [], []   # open scopes: "ns" namespace, "c" extern "C", "{" any other
    for line in text.split("\n"):
        if all(scope == "c" for scope in stack):
            m = _FN_HEAD.match(line)
            if m and "namespace" not in line:
                names.append(m.group(1))
        for tok in _OPEN.findall(line):
            if tok == "}":
                if stack:
                    stack.pop()
            else:
                stack.append("{" if tok == "{" else "ns" if tok.startswith("namespace") else "c")
    return names


def header_globals(root: Path, headers: list[str]) -> list[str]:
    """The non-namespaced functions of the headers `headers` (paths relative to `root`),
    sorted, once each."""
    found: set[str] = set()
    for rel in headers:
        found.update(global_functions((root / rel).read_text()))
    return sorted(found)
