#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Install the kernel's UAPI headers under an lkl prefix.

Usage:
    prefix_uapi.py [options] IN OUT

IN is an include directory produced by ``make ARCH=lkl headers_install``
(it holds linux/, asm/, asm-generic/, mtd/, ...). Every header IN/<path> is
written to OUT/lkl/<path>, changed so that it can be included in the same
translation unit as the C library's headers:

* Includes of headers that exist in IN are redirected into the prefixed
  tree: ``#include <linux/types.h>`` becomes ``#include <lkl/linux/types.h>``
  (likewise asm/, asm-generic/, mtd/, ...). Quoted includes are relative to
  the including file and keep working as they are. Includes of anything
  else (``<stddef.h>``, ``<sys/socket.h>``) are left to the C library.

* Every identifier *defined* by the headers is renamed. "Defined" means a
  macro (``#define NAME``), a struct/union/enum tag that gets a body, a
  typedef name, an enumeration constant, or a function or variable defined
  or declared at file scope. The new name is:

      name starts with "_"            ->  "__lkl" + name
                                          __NR_read      -> __lkl__NR_read
                                          __u32          -> __lkl__u32
                                          __kernel_off_t -> __lkl__kernel_off_t
                                          _IOR           -> __lkl_IOR
      name starts with an upper-case  ->  "LKL_" + name
      letter                              O_RDONLY -> LKL_O_RDONLY
                                          EINVAL   -> LKL_EINVAL
      name starts with a lower-case   ->  "lkl_" + name
      letter                              stat     -> lkl_stat
                                          linux_dirent64 -> lkl_linux_dirent64

  Names that already start with "lkl_", "LKL_" or "__lkl" (asm/host_ops.h)
  are left alone, and so are C keywords and compiler extensions that a
  header defines as a fallback macro (``__inline__`` in linux/coda.h).

  Only whole identifiers are replaced, never text inside comments, string
  or character literals, or a longer identifier. Struct/union/enum tags
  live in their own C name space, so a name that is *only* a tag is
  replaced only right after the struct/union/enum keyword or in a
  preprocessor directive (``#define ipt_counters xt_counters`` stands for a
  tag): a member or variable that happens to share its spelling keeps it.
  Typedef names, enumeration constants and functions are not replaced
  after "." or "->" (member access). Macros are replaced everywhere, as the
  preprocessor would expand them everywhere.

  Some names are kept because the headers only define them as a stand-in
  for the C library's, or share them with it on purpose (LIBC_NAMES:
  int32_t and friends in linux/coda.h, __LITTLE_ENDIAN/__BIG_ENDIAN).

  A macro's parameters are never renamed inside its own definition.
  Arguments that a macro pastes (##) or stringifies (#) are not renamed at
  its invocation (NILFS_SUINFO_FNS(ERROR, error) must paste ERROR);
  arguments it puts after struct/union/enum are renamed as tags. The left
  operand of ## in a definition gets the prefix, so that pasted names come
  out prefixed like the rest (NILFS_CPINFO_##flag ->
  LKL_NILFS_CPINFO_##flag). A member declaration in a struct or union body
  keeps its name even if an enumeration constant or typedef elsewhere is
  spelled the same.

  Tests for the C library (``__GLIBC__``, see LIBC_PROBES) are renamed
  too, to a macro nobody defines: nothing in the lkl headers can clash with
  the C library, so they always define everything (LKL_S_IFDIR even when
  glibc's <sys/stat.h> is there).

  A few struct members are renamed as well, because the C library defines
  macros with their names (glibc's <sys/stat.h> has
  ``#define st_atime st_atim.tv_sec``): see MEMBER_RENAMES. They follow the
  same rule (``st_atime`` -> ``lkl_st_atime``, ``sa_handler`` ->
  ``lkl_sa_handler``); ``st_atime_nsec`` and the other members keep their
  names.

* linux/libc-compat.h is replaced by a version that turns on every
  __UAPI_DEF_* switch: with all names prefixed nothing can clash with the C
  library any more, so the lkl headers always define all of their types.

* asm/host_ops.h (the kernel/host interface, already lkl_-named) gets an
  extern "C" guard so that C++ can include it directly.

Output files are rewritten only when their content changes, so a rebuild
that changes nothing touches nothing (use --stamp for build systems).

Self-check: ``--check`` compiles the result with ``gcc -fsyntax-only``
(-Wall -Werror): every header on its own; one translation unit with every
generated header together with the common C library headers, included
before them and, in a second unit, after them; and it checks that the set
of macros the lkl headers define is the same with and without the C
library. Headers whose *original* version does not compile on its own
either (the kernel knows a few such) are reported, not failed; a few that
contradict each other by design are left out of the all-in-one unit
(TOGETHER_EXCLUDE). Nothing needs to be dropped: with the rules above all
of the kernel's UAPI directories come through (--drop exists for trees
where that stops being true).
"""

import argparse
import concurrent.futures
import os
import re
import subprocess
import sys

PREFIX_DIR = "lkl"

# Struct members whose names the C library defines as macros, so that a
# libc header included first would break the struct (glibc's <sys/stat.h>:
# "#define st_atime st_atim.tv_sec"; <signal.h>: "#define sa_handler
# __sigaction_handler.sa_handler"; <netinet/if_ether.h>: "#define arp_op
# ea_hdr.ar_op").
MEMBER_RENAMES = ("st_atime", "st_mtime", "st_ctime", "sa_handler", "arp_op")

# Names the headers define only as a stand-in for the C library's own
# (linux/coda.h has typedefs for systems without <sys/types.h>), or share
# with it on purpose (the kernel's byte-order tests compare the C library's
# __BYTE_ORDER with __LITTLE_ENDIAN/__BIG_ENDIAN, same values everywhere).
LIBC_NAMES = set("""
int8_t int16_t int32_t int64_t u_int8_t u_int16_t u_int32_t u_int64_t
caddr_t dev_t ino_t u_char u_short u_int u_long
__LITTLE_ENDIAN __BIG_ENDIAN
""".split())

# Names the headers test to find out whether the C library is present, so
# as to leave out what it defines too (linux/stat.h drops S_IFMT & co. under
# glibc). The lkl names clash with nothing, so these tests are renamed to a
# macro nobody defines: the lkl headers always behave as if no C library
# were there, and always define everything.
LIBC_PROBES = ("__GLIBC__",)

# C library headers that some UAPI headers include to get struct timeval
# and struct timespec; those now mean the prefixed kernel types, so the
# kernel's definition is included as well.
LIBC_INCLUDE_EXTRA = {
    "sys/time.h": "linux/time.h",
    "time.h": "linux/time.h",
}

# Headers left out of the self-check's all-in-one translation unit because
# they contradict another header by design.
TOGETHER_EXCLUDE = {
    # The "long" __u64 flavour of other 64-bit architectures; int-ll64.h
    # is the one asm/types.h uses.
    "asm-generic/int-l64.h",
    # The other byte order; asm/byteorder.h includes little_endian.h.
    "linux/byteorder/big_endian.h",
    # Defines IPT_ECN_IP_MASK as a macro, ipt_ecn.h as an enumerator.
    "linux/netfilter_ipv4/ipt_ECN.h",
}

# Headers that need an extern "C" guard (they declare functions).
EXTERN_C_HEADERS = ("asm/host_ops.h",)

C_KEYWORDS = set("""
auto break case char const continue default do double else enum extern float
for goto if inline int long register restrict return short signed sizeof
static struct switch typedef union unsigned void volatile while _Bool
_Complex _Imaginary _Alignas _Alignof _Atomic _Generic _Noreturn
_Static_assert _Thread_local __attribute__ __attribute __extension__
__inline__ __inline __volatile__ __volatile __const__ __const __signed__
__signed __restrict__ __restrict __asm__ __asm asm typeof __typeof__
__typeof __alignof__ __builtin_offsetof __int128 __label__
""".split())

TOKEN_RE = re.compile(r"""
    (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*")
  | (?P<char>'(?:\\.|[^'\\\n])*')
  | (?P<number>\.?[0-9](?:[eEpP][+-]|[\w.])*)
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<ws>[ \t\r\f\v]+|\\\n|\n)
  | (?P<other>.)
""", re.S | re.X)

INCLUDE_RE = re.compile(r'^([ \t]*#[ \t]*include[ \t]*)<([^>\n]+)>', re.M)
DEFINE_RE = re.compile(r'^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)', re.M)


def lkl_name(name):
    """The prefixed spelling of an identifier (see the module docstring)."""
    if (name.startswith("lkl_") or name.startswith("LKL_")
            or name.startswith("__lkl")):
        return name
    if name.startswith("_"):
        return "__lkl" + name
    if name[0].isupper():
        return "LKL_" + name
    return "lkl_" + name


def tokenize(text):
    """(kind, text) pairs covering all of text."""
    return [(m.lastgroup, m.group()) for m in TOKEN_RE.finditer(text)]


def logical_lines(text):
    """Split into lines, joining backslash continuations."""
    return text.replace("\\\n", " ").split("\n")


def c_tokens(text):
    """Significant C tokens: comments, whitespace and directives removed."""
    out = []
    at_line_start = True
    in_directive = False
    for kind, tok in tokenize(text):
        if kind == "ws":
            if tok == "\n":
                at_line_start = True
                in_directive = False
            continue
        if kind == "comment":
            continue
        if at_line_start and tok == "#":
            in_directive = True
        at_line_start = False
        if in_directive:
            continue
        out.append((kind, tok))
    return out


def skip_group(toks, i):
    """Index just past the bracket group that starts at toks[i]."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = [pairs[toks[i][1]]]
    i += 1
    while i < len(toks) and stack:
        t = toks[i][1]
        if t in pairs:
            stack.append(pairs[t])
        elif t == stack[-1]:
            stack.pop()
        i += 1
    return i


class Definitions:
    """The identifiers defined by a set of headers, by kind."""

    def __init__(self):
        self.obj_macros = set()
        # Function-like macros: name -> (indices of parameters that are
        # pasted or stringified, indices used after struct/union/enum).
        self.fn_macros = {}
        self.tags = set()
        # Typedefs, enumeration constants, functions and variables.
        self.ordinary = set()

    @property
    def macros(self):
        return self.obj_macros | set(self.fn_macros)

    def scan(self, text):
        stripped = "".join(tok for kind, tok in tokenize(text)
                           if kind != "comment")
        for line in logical_lines(stripped):
            m = DEFINE_RE.match(line)
            if m:
                self._scan_define(m.group(1), line[m.end():])
        toks = c_tokens(text)
        self._scan_tags_and_enums(toks)
        self._scan_file_scope(toks)

    def _scan_define(self, name, rest):
        if not rest.startswith("("):
            self.obj_macros.add(name)
            return
        close = rest.find(")")
        params = [p.strip() for p in rest[1:close].split(",")]
        params = ["__VA_ARGS__" if p == "..." else
                  p[:-3].strip() if p.endswith("...") else p for p in params]
        body = [(kind, t) for kind, t in tokenize(rest[close + 1:])
                if kind not in ("ws", "comment")]
        raw, tagged = set(), set()
        for k, (kind, t) in enumerate(body):
            if kind != "ident" or t not in params:
                continue
            idx = params.index(t)
            before = body[k - 1][1] if k > 0 else ""
            after = body[k + 1][1] if k + 1 < len(body) else ""
            after2 = body[k + 2][1] if k + 2 < len(body) else ""
            if before == "#" or (after == "#" and after2 == "#"):
                raw.add(idx)
            elif before in ("struct", "union", "enum"):
                tagged.add(idx)
        old = self.fn_macros.get(name, (set(), set()))
        self.fn_macros[name] = (old[0] | raw, old[1] | tagged)

    def _scan_tags_and_enums(self, toks):
        n = len(toks)
        for i, (kind, tok) in enumerate(toks):
            if tok not in ("struct", "union", "enum"):
                continue
            j = i + 1
            # struct __attribute__((packed)) name { ... }
            while j < n and toks[j][1] in ("__attribute__", "__attribute"):
                j = skip_group(toks, j + 1)
            tag = None
            if j < n and toks[j][0] == "ident":
                tag = toks[j][1]
                j += 1
            while j < n and toks[j][1] in ("__attribute__", "__attribute"):
                j = skip_group(toks, j + 1)
            if j >= n or toks[j][1] != "{":
                continue
            if tag:
                self.tags.add(tag)
            if tok == "enum":
                self._scan_enumerators(toks, j)

    def _scan_enumerators(self, toks, j):
        end = skip_group(toks, j)
        k = j + 1
        expect_name = True
        while k < end - 1:
            kind, t = toks[k]
            if t in ("(", "[", "{"):
                k = skip_group(toks, k)
                continue
            if t == ",":
                expect_name = True
            elif expect_name and kind == "ident":
                if toks[k + 1][1] == "(":
                    # A macro that expands to enumerators; the name after
                    # it is still one.
                    k = skip_group(toks, k + 1)
                    continue
                self.ordinary.add(t)
                expect_name = False
            k += 1

    def _scan_file_scope(self, toks):
        """Typedef names, functions and variables declared at file scope."""
        n = len(toks)
        i = 0
        while i < n:
            # Gather one file-scope statement: up to ';' at depth 0, or a
            # function body.
            start = i
            body_end = None
            while i < n:
                t = toks[i][1]
                if t in ("(", "["):
                    i = skip_group(toks, i)
                    continue
                if t == "{":
                    close = skip_group(toks, i)
                    if i > start and toks[i - 1][1] == ")" and \
                            toks[start][1] != "typedef":
                        body_end = close      # a function definition
                        i = close
                        break
                    i = close
                    continue
                if t == ";":
                    i += 1
                    break
                i += 1
            stmt = toks[start:i if body_end is None else body_end]
            if not stmt:
                continue
            if stmt[0][1] == "typedef":
                for name in typedef_names(stmt[1:]):
                    self.ordinary.add(name)
            else:
                name = function_name(stmt, body_end is not None) or \
                    variable_name(stmt)
                if name:
                    self.ordinary.add(name)


def strip_groups(decl, which):
    """decl without the bracket groups that open with a token in which."""
    out = []
    k = 0
    while k < len(decl):
        if decl[k][1] in ("__attribute__", "__attribute") and \
                k + 1 < len(decl) and decl[k + 1][1] == "(":
            k = skip_group(decl, k + 1)
            continue
        if decl[k][1] in which:
            k = skip_group(decl, k)
            continue
        out.append(decl[k])
        k += 1
    return out


def split_top(toks, sep=","):
    parts, cur, k = [], [], 0
    while k < len(toks):
        t = toks[k][1]
        if t in ("(", "[", "{"):
            end = skip_group(toks, k)
            cur.extend(toks[k:end])
            k = end
            continue
        if t == sep:
            parts.append(cur)
            cur = []
        else:
            cur.append(toks[k])
        k += 1
    parts.append(cur)
    return parts


def declarator_name(decl):
    decl = strip_groups(decl, ("{", "["))
    # Function pointer: ... ( * name ) ( ... )
    for k, (kind, t) in enumerate(decl):
        if t == "(" and k + 1 < len(decl) and decl[k + 1][1] in ("*", "^"):
            for kind2, t2 in decl[k + 2:]:
                if kind2 == "ident" and t2 not in C_KEYWORDS:
                    return t2
    # Function type: ... name ( ... )
    for k, (kind, t) in enumerate(decl):
        if kind == "ident" and k + 1 < len(decl) and decl[k + 1][1] == "(" \
                and t not in C_KEYWORDS:
            return t
    names = [t for kind, t in decl if kind == "ident" and t not in C_KEYWORDS]
    return names[-1] if names else None


def typedef_names(toks):
    names = []
    for decl in split_top(toks):
        if decl and decl[-1][1] == ";":
            decl = decl[:-1]
        name = declarator_name(decl)
        if name:
            names.append(name)
    return names


def function_name(stmt, is_definition):
    """The function a file-scope declaration or definition names, if any.

    stmt may start with invocations of macros that expand to definitions
    (they end without a semicolon): the function is the name before the
    parameter list that ends the statement.
    """
    toks = strip_groups(stmt, ("{", "["))
    if toks and toks[-1][1] == ";":
        toks = toks[:-1]
    elif not is_definition:
        return None
    if not toks or toks[-1][1] != ")":
        return None
    depth = 0
    for k in range(len(toks) - 1, -1, -1):
        if toks[k][1] == ")":
            depth += 1
        elif toks[k][1] == "(":
            depth -= 1
            if depth == 0:
                break
    if k < 2:
        return None                       # no return type: a macro call
    kind, name = toks[k - 1]
    if kind != "ident" or name in C_KEYWORDS:
        return None
    if toks[k - 2][1] in (",", "(", ")"):
        return None                       # inside another construct
    return name


def variable_name(stmt):
    """The variable a file-scope declaration (ending in ";") names."""
    if not stmt or stmt[-1][1] != ";":
        return None
    toks = []
    k = 0
    while k < len(stmt) - 1:
        t = stmt[k][1]
        if t == "=":
            break                         # the initializer
        if t in ("__attribute__", "__attribute") and k + 1 < len(stmt) \
                and stmt[k + 1][1] == "(":
            k = skip_group(stmt, k + 1)
            continue
        if t in ("{", "[", "("):
            end = skip_group(stmt, k)
            if t == "{":
                toks.append(("other", "{}"))
            elif t == "(":
                return None               # function pointers, macro calls
            k = end
            continue
        toks.append(stmt[k])
        k += 1
    if len(toks) < 2 or toks[-1][0] != "ident" or toks[-1][1] in C_KEYWORDS:
        return None
    if toks[-2][1] in ("struct", "union", "enum"):
        return None                       # a tag declaration
    return toks[-1][1]


def significant(toks, k):
    """Index of the first token at or after k that is not space/comment."""
    while k < len(toks) and toks[k][0] in ("ws", "comment") and \
            toks[k][1] != "\n":
        k += 1
    return k


def macro_args(toks, k):
    """Split a macro invocation's arguments; toks[k] is its "(".

    Returns (list of token-index lists, index after the closing paren), or
    None if the parentheses do not close in toks.
    """
    depth = 0
    args, cur = [], []
    for j in range(k, len(toks)):
        t = toks[j][1]
        if t == "(":
            depth += 1
            if depth == 1:
                continue
        elif t == ")":
            depth -= 1
            if depth == 0:
                args.append(cur)
                return args, j + 1
        elif t == "," and depth == 1:
            args.append(cur)
            cur = []
            continue
        cur.append(j)
    return None


class Renamer:
    """Rewrites one header's text; see the module docstring for the rules."""

    def __init__(self, defs, renames):
        self.defs = defs
        self.renames = renames

    def rename(self, text):
        toks = tokenize(text)
        n = len(toks)
        keep = set()        # token indices that must not be renamed
        as_tag = set()      # token indices that name a tag (macro argument)
        out = []

        line_start = True
        directive = None    # None, or the directive's tokens state
        params = set()      # parameters of the #define being read
        prev = None         # previous significant token (original text)
        cprev = None        # the same, in C code (outside directives)
        # Brace context of C code (not directives): "record" bodies of
        # struct/union, "enum" bodies, "other" (functions, initialisers).
        braces = []
        paren = 0           # paren depth inside the innermost brace
        pending_kind = None  # kind of the next "{" (after struct/union/enum)

        k = 0
        while k < n:
            kind, tok = toks[k]
            if kind in ("ws", "comment"):
                if tok == "\n":
                    line_start = True
                    directive = None
                    params = set()
                out.append(tok)
                k += 1
                continue
            orig = tok
            if line_start and tok == "#":
                directive = "start"
            elif directive == "start":
                directive = tok            # include, define, if, ...
                if tok == "define":
                    params = self._define_params(toks, k)
            line_start = False

            if kind == "ident" and k not in keep and directive != "include":
                tok = self._rename_ident(toks, k, tok, prev, cprev,
                                         directive, params, braces, paren,
                                         as_tag)
                # Arguments of a macro that pastes or stringifies them,
                # or puts them after struct/union/enum.
                info = self.defs.fn_macros.get(orig)
                if info is not None:
                    j = significant(toks, k + 1)
                    if j < n and toks[j][1] == "(":
                        self._mark_args(toks, j, info, keep, as_tag)

            if directive is None:
                # Track where we are in C code.
                if orig in ("struct", "union"):
                    pending_kind = "record"
                elif orig == "enum":
                    pending_kind = "enum"
                elif orig == "{":
                    braces.append((pending_kind or "other", paren))
                    pending_kind = None
                    paren = 0
                elif orig == "}":
                    if braces:
                        paren = braces.pop()[1]
                elif orig == "(":
                    paren += 1
                elif orig == ")":
                    paren -= 1
                elif orig == ";":
                    pending_kind = None
            out.append(tok)
            prev = orig
            if directive is None:
                cprev = orig
            k += 1
        return "".join(out)

    def _define_params(self, toks, k):
        """Parameter names of the #define whose "define" is toks[k]."""
        j = significant(toks, k + 1)
        if j >= len(toks) or toks[j][0] != "ident":
            return set()
        if j + 1 < len(toks) and toks[j + 1][1] == "(":
            names = set()
            for m in range(j + 2, len(toks)):
                t = toks[m][1]
                if t == ")" or t == "\n":
                    break
                if toks[m][0] == "ident":
                    names.add(t)
            names.add("__VA_ARGS__")
            return names
        return set()

    def _mark_args(self, toks, j, info, keep, as_tag):
        split = macro_args(toks, j)
        if split is None:
            return
        args, _ = split
        raw, tagged = info
        for idx, arg in enumerate(args):
            if idx in tagged:
                as_tag.update(arg)
            elif idx in raw:
                keep.update(arg)

    def _rename_ident(self, toks, k, tok, prev, cprev, directive, params,
                      braces, paren, as_tag):
        new = self.renames.get(tok)
        defs = self.defs
        if directive == "define" and tok in params:
            return tok
        nxt = toks[significant(toks, k + 1)][1] \
            if significant(toks, k + 1) < len(toks) else ""
        # Left operand of ##: the pasted name gets the prefix.
        if directive == "define" and nxt == "#" and \
                k + 2 < len(toks):
            j = significant(toks, k + 1)
            if j + 1 < len(toks) and toks[j + 1][1] == "#":
                return lkl_name(tok)
        if new is None:
            return tok
        if tok in defs.obj_macros or tok in MEMBER_RENAMES or \
                tok in LIBC_PROBES:
            return new
        if tok in defs.fn_macros:
            return new
        if tok in defs.tags and (prev in ("struct", "union", "enum") or
                                 k in as_tag):
            return new
        # In a directive a tag can stand alone: "#define ipt_counters
        # xt_counters" is used as "struct ipt_counters".
        if tok in defs.tags and directive not in (None, "include") and \
                prev not in (".", "->"):
            return new
        if tok in defs.ordinary and prev not in (".", "->"):
            # A member declaration keeps its name: inside a struct/union
            # body, at paren depth 0, followed by ; , [ : or an attribute.
            if directive is None and braces and braces[-1][0] == "record" \
                    and paren == 0 and cprev not in ("{", ";", "}") and \
                    nxt in (";", ",", "[", ":", "__attribute__"):
                return tok
            return new
        return tok


def rewrite_includes(text, known):
    def repl(m):
        target = m.group(2).strip()
        if target in known:
            return "%s<%s/%s>" % (m.group(1), PREFIX_DIR, target)
        extra = LIBC_INCLUDE_EXTRA.get(target)
        if extra in known:
            return "%s\n#include <%s/%s>" % (m.group(0), PREFIX_DIR, extra)
        return m.group(0)
    return INCLUDE_RE.sub(repl, text)


def libc_compat(text, renames):
    """A libc-compat.h that enables every __UAPI_DEF_* switch."""
    code = "".join(tok for kind, tok in tokenize(text) if kind != "comment")
    names = sorted(set(re.findall(r"\b__UAPI_DEF_\w+", code)))
    guard = renames.get("_LIBC_COMPAT_H", lkl_name("_LIBC_COMPAT_H"))
    lines = [
        "/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */",
        "/*",
        " * Generated by prefix_uapi.py in place of linux/libc-compat.h.",
        " *",
        " * Every name in the lkl headers carries the lkl prefix, so none can",
        " * clash with the C library: all definitions are always enabled.",
        " */",
        "#ifndef %s" % guard,
        "#define %s" % guard,
        "",
    ]
    for n in names:
        lines.append("#define %s 1" % lkl_name(n))
    lines += ["", "#endif /* %s */" % guard, ""]
    return "\n".join(lines)


def add_extern_c(text):
    # Put the guard inside the include guard: after the first #define,
    # before the last #endif.
    m = re.search(r"^[ \t]*#[ \t]*define[^\n]*\n", text, re.M)
    ends = list(re.finditer(r"^[ \t]*#[ \t]*endif[^\n]*$", text, re.M))
    if not m or not ends:
        return text
    head, mid, tail = (text[:m.end()], text[m.end():ends[-1].start()],
                       text[ends[-1].start():])
    return (head + "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n" + mid +
            "#ifdef __cplusplus\n}\n#endif\n\n" + tail)


def collect(indir, drop):
    files = []
    for root, dirs, names in os.walk(indir):
        dirs.sort()
        rel_root = os.path.relpath(root, indir)
        if rel_root != "." and rel_root.split(os.sep)[0] in drop:
            continue
        for name in sorted(names):
            if name.endswith(".h"):
                rel = os.path.normpath(os.path.join(rel_root, name))
                files.append(rel.replace(os.sep, "/"))
    return files


def write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)
    os.replace(tmp, path)
    return True


def read(path):
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


def prefix_tree(indir, outdir, drop=(), verbose=False):
    files = collect(indir, set(drop))
    known = set(files)
    texts = {rel: read(os.path.join(indir, rel)) for rel in files}

    defs = Definitions()
    for rel in files:
        defs.scan(texts[rel])
    names = defs.macros | defs.tags | defs.ordinary | set(MEMBER_RENAMES) \
        | set(LIBC_PROBES)
    # A header may define a keyword as a macro (linux/coda.h defines
    # __inline__ for old compilers); keywords are never renamed.
    names -= C_KEYWORDS | LIBC_NAMES
    renames = {n: lkl_name(n) for n in names if lkl_name(n) != n}

    # The prefixed spelling must not already mean something else.
    clash = sorted(n for n, new in renames.items() if new in names)
    if clash:
        raise SystemExit("prefix_uapi: renaming would clash: " +
                         ", ".join("%s->%s" % (n, renames[n]) for n in clash))

    renamer = Renamer(defs, renames)
    changed = 0
    for rel in files:
        text = texts[rel]
        if rel == "linux/libc-compat.h":
            text = libc_compat(text, renames)
        else:
            text = renamer.rename(text)
            text = rewrite_includes(text, known)
            if rel in EXTERN_C_HEADERS:
                text = add_extern_c(text)
        if write_if_changed(os.path.join(outdir, PREFIX_DIR, rel), text):
            changed += 1
    if verbose:
        print("prefix_uapi: %d headers (%d rewritten), %d macros, %d tags, "
              "%d other names" % (len(files), changed, len(defs.macros),
                                  len(defs.tags), len(defs.ordinary)))
    return files


# ---------------------------------------------------------------------------
# Self-check

LIBC_HEADERS = """
stdio.h stdlib.h string.h stddef.h stdint.h stdarg.h limits.h errno.h
unistd.h fcntl.h dirent.h signal.h time.h poll.h sched.h termios.h
sys/types.h sys/stat.h sys/statfs.h sys/vfs.h sys/time.h sys/uio.h
sys/mman.h sys/ioctl.h sys/socket.h sys/resource.h sys/wait.h sys/xattr.h
sys/mount.h sys/epoll.h sys/select.h sys/sysmacros.h sys/utsname.h
netinet/in.h net/if.h pthread.h
""".split()


def gcc(cc, src, incs, extra=()):
    cmd = [cc, "-fsyntax-only", "-Wall", "-Werror", "-x", "c", "-std=gnu11",
           *extra]
    for inc in incs:
        cmd += ["-I", inc]
    cmd.append("-")
    p = subprocess.run(cmd, input=src, capture_output=True, text=True)
    return p.returncode == 0, p.stderr


def uses_libc(outdir, rel, seen=None):
    """Whether rel includes, directly or not, a header outside lkl/."""
    seen = set() if seen is None else seen
    if rel in seen:
        return False
    seen.add(rel)
    text = read(os.path.join(outdir, PREFIX_DIR, rel))
    for m in re.finditer(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"]+)[>"]',
                         text, re.M):
        target = m.group(2)
        if m.group(1) == '"':
            target = os.path.normpath(os.path.join(os.path.dirname(rel),
                                                   target))
        elif target.startswith(PREFIX_DIR + "/"):
            target = target[len(PREFIX_DIR) + 1:]
        else:
            return True
        if uses_libc(outdir, target, seen):
            return True
    return False


def self_check(indir, outdir, files, cc, jobs):
    incs_out = [outdir]
    libc = "".join("#include <%s>\n" % h for h in LIBC_HEADERS)

    def standalone(rel):
        ok_new, err_new = gcc(cc, "#include <%s/%s>\n" % (PREFIX_DIR, rel),
                              incs_out)
        if ok_new:
            return rel, True, None, ""
        ok_old, _ = gcc(cc, "#include <%s>\n" % rel, [indir])
        return rel, False, ok_old, err_new

    broken, upstream_broken = [], []
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        for rel, ok, ok_old, err in ex.map(standalone, files):
            if ok:
                continue
            if ok_old:
                broken.append((rel, err))
            else:
                upstream_broken.append(rel)
    for rel, err in broken:
        print("FAIL (standalone) %s\n%s" % (rel, err[:2000]))
    print("standalone: %d headers, %d fail, %d also fail unprefixed: %s" %
          (len(files), len(broken), len(upstream_broken),
           " ".join(upstream_broken)))

    together = [f for f in files
                if f not in upstream_broken and f not in TOGETHER_EXCLUDE]
    lkl = "".join("#include <%s/%s>\n" % (PREFIX_DIR, f) for f in together)
    ok1, err1 = gcc(cc, libc + lkl, incs_out)
    ok2, err2 = gcc(cc, lkl + libc, incs_out)
    for ok, err, what in ((ok1, err1, "libc first"), (ok2, err2, "lkl first")):
        print("together (%s, %d headers): %s" %
              (what, len(together), "ok" if ok else "FAIL"))
        if not ok:
            print(err[:6000])

    # The C library must not change what the lkl headers define.
    def macro_names(src):
        cmd = [cc, "-E", "-dM", "-x", "c", "-std=gnu11", "-I", outdir, "-"]
        p = subprocess.run(cmd, input=src, capture_output=True, text=True)
        return {m.group(1) for m in
                re.finditer(r"^#define (\w+)", p.stdout, re.M)
                if m.group(1) in lkl_spellings}
    lkl_spellings = set()
    for rel in together:
        for line in read(os.path.join(outdir, PREFIX_DIR, rel)).split("\n"):
            m = DEFINE_RE.match(line)
            if m:
                lkl_spellings.add(m.group(1))
    # Compare on the headers that include no C library header themselves
    # (an UAPI header that includes <sys/socket.h> brings the C library
    # into the "without" case too).
    pure = [f for f in together if not uses_libc(outdir, f)]
    lkl_pure = "".join("#include <%s/%s>\n" % (PREFIX_DIR, f) for f in pure)
    alone, with_libc = macro_names(lkl_pure), macro_names(libc + lkl_pure)
    same = alone == with_libc
    print("macros of %d headers with and without the C library: %s" %
          (len(pure), "same" if same else "DIFFERENT: " +
           " ".join(sorted(alone ^ with_libc)[:40])))
    return not broken and ok1 and ok2 and same


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("indir", metavar="IN")
    ap.add_argument("outdir", metavar="OUT")
    ap.add_argument("--drop", action="append", default=[],
                    help="top-level directory of IN to leave out "
                         "(may be repeated)")
    ap.add_argument("--stamp", help="file to touch when done")
    ap.add_argument("--check", action="store_true",
                    help="compile the result with gcc -fsyntax-only")
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    files = prefix_tree(args.indir, args.outdir, args.drop, args.verbose)
    if args.check and not self_check(args.indir, args.outdir, files,
                                     args.cc, args.jobs):
        return 1
    if args.stamp:
        with open(args.stamp, "w") as f:
            f.write("")
    return 0


if __name__ == "__main__":
    sys.exit(main())
