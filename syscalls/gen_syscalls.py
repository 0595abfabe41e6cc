#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Generate lkl/syscalls.h: one typed lkl_sys_<name>() per system call.

Usage:
    gen_syscalls.py --include DIR --ksrc KSRC [--out FILE] [--report]

DIR is the include directory that prefix_uapi.py wrote (it holds lkl/);
KSRC is the kernel source tree the library is built from. The output
(default DIR/lkl/syscalls.h) is rewritten only when its content changes.

How it works:

1. The system call table is the architecture's own: the C preprocessor is
   run over the prefixed <lkl/asm/unistd.h> twice, once with -dM to read
   every __lkl__NR_<name> number, once with __lkl__SYSCALL(nr, call)
   defined to print each table entry. That gives, per number, the name
   user space knows (__NR_fstat -> lkl_sys_fstat) and the kernel function
   the 64-bit table calls (sys_newfstat).

2. The types come from the kernel's SYSCALL_DEFINEn(name, type, arg, ...)
   definitions, found by scanning every .c file of KSRC outside arch/
   (arch/lkl is scanned too, and wins). COMPAT_SYSCALL_DEFINE is never
   used. When a name is defined more than once with different signatures
   (clone has one variant per CONFIG_CLONE_BACKWARDS*), the definition in
   the #else branch -- the one an architecture gets by default -- is used.

3. Kernel types become public ones: __user is dropped; struct/union X
   becomes struct/union lkl_X, declared as an incomplete type at the top of
   the header when the UAPI does not define it; enum X becomes enum lkl_X
   (its UAPI header is included) or int; typedefs map through TYPE_MAP to
   the lkl_ typedefs this header defines (lkl_size_t, lkl_loff_t, ...) or to
   the prefixed UAPI typedef of the same name (aio_context_t ->
   lkl_aio_context_t).

4. A table entry without a SYSCALL_DEFINE (arch-provided calls such as
   mmap, or sys_ni_syscall) takes its signature from EXPLICIT; anything
   else gets an untyped wrapper of six longs, with a comment. --report
   lists which calls went which way.

Each wrapper packs its arguments into long[6] and calls
long lkl_syscall(long no, long *params). After the table's wrappers come
the classic calls that programs written for upstream LKL use
(lkl_sys_open, lkl_sys_stat, lkl_sys_mkdir, ...), written on top of the
*at calls of the generic table.
"""

import argparse
import os
import re
import subprocess
import sys

# The build runs this from the source tree: leave no __pycache__ there.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prefix_uapi  # noqa: E402  (lkl_name, Definitions, tokenize)

lkl_name = prefix_uapi.lkl_name

# Kernel-internal typedefs -> the public type. Names on the right that
# start with lkl_ are defined by the generated header (TYPEDEFS).
TYPE_MAP = {
    "size_t": "lkl_size_t",
    "ssize_t": "lkl_ssize_t",
    "loff_t": "lkl_loff_t",
    "off_t": "lkl_off_t",
    "mode_t": "lkl_mode_t",
    "umode_t": "lkl_umode_t",
    "pid_t": "lkl_pid_t",
    "uid_t": "lkl_uid_t",
    "gid_t": "lkl_gid_t",
    "qid_t": "lkl_qid_t",
    "old_uid_t": "__lkl__kernel_old_uid_t",
    "old_gid_t": "__lkl__kernel_old_gid_t",
    "clockid_t": "lkl_clockid_t",
    "timer_t": "lkl_timer_t",
    "key_t": "lkl_key_t",
    "mqd_t": "lkl_mqd_t",
    "fd_set": "lkl_fd_set",
    "time_t": "lkl_time_t",
    "old_time32_t": "__lkl__s32",
    "key_serial_t": "lkl_key_serial_t",
    "rwf_t": "lkl_rwf_t",
    "u8": "__lkl__u8",
    "u16": "__lkl__u16",
    "u32": "__lkl__u32",
    "u64": "__lkl__u64",
    "s8": "__lkl__s8",
    "s16": "__lkl__s16",
    "s32": "__lkl__s32",
    "s64": "__lkl__s64",
}

# Typedefs the generated header provides (the names upstream LKL programs
# use for kernel types that have no UAPI spelling of their own).
TYPEDEFS = [
    ("lkl_size_t", "__lkl__kernel_size_t"),
    ("lkl_ssize_t", "__lkl__kernel_ssize_t"),
    ("lkl_loff_t", "__lkl__kernel_loff_t"),
    ("lkl_off_t", "__lkl__kernel_off_t"),
    ("lkl_mode_t", "__lkl__kernel_mode_t"),
    ("lkl_umode_t", "unsigned short"),
    ("lkl_pid_t", "__lkl__kernel_pid_t"),
    ("lkl_uid_t", "__lkl__kernel_uid32_t"),
    ("lkl_gid_t", "__lkl__kernel_gid32_t"),
    ("lkl_qid_t", "__lkl__kernel_uid32_t"),
    ("lkl_clockid_t", "__lkl__kernel_clockid_t"),
    ("lkl_timer_t", "__lkl__kernel_timer_t"),
    ("lkl_key_t", "__lkl__kernel_key_t"),
    ("lkl_mqd_t", "__lkl__kernel_mqd_t"),
    ("lkl_fd_set", "__lkl__kernel_fd_set"),
    ("lkl_time_t", "__lkl__kernel_old_time_t"),
    ("lkl_key_serial_t", "__lkl__s32"),
    ("lkl_rwf_t", "int"),
]

C_TYPE_WORDS = {"const", "volatile", "unsigned", "signed", "int", "long",
                "short", "char", "void", "_Bool"}

# Parameter names that would break in C++ or collide with well-known
# macros; they get a trailing underscore.
BAD_PARAM_NAMES = set("""
new delete class this template typename private public protected operator
friend virtual namespace using bool true false and or not xor compl bitand
bitor catch throw try export mutable explicit register linux unix errno
stdin stdout stderr
""".split())

# Table entries the kernel does not define with SYSCALL_DEFINE in generic
# code: function (without sys_) -> (parameters, comment).
EXPLICIT = {
    # Each architecture defines mmap itself (arm64, riscv: all longs, the
    # offset in bytes).
    "mmap": ([("unsigned long", "addr"), ("unsigned long", "len"),
              ("unsigned long", "prot"), ("unsigned long", "flags"),
              ("unsigned long", "fd"), ("unsigned long", "off")],
             "architecture-defined; offset in bytes"),
    "rt_sigreturn": ([], "architecture-defined; meaningless for lkl, "
                         "which never returns to a user mode"),
    "ni_syscall": ([], "not implemented by Linux 6.1 (sys_ni_syscall): "
                       "always returns -LKL_ENOSYS"),
    # fs/dcookies.c went away in 5.11; the table keeps the number and the
    # kernel answers -ENOSYS (kernel/sys_ni.c).
    "lookup_dcookie": ([("u64", "cookie64"), ("char __user *", "buf"),
                        ("size_t", "len")],
                       "removed in Linux 5.11: always returns -LKL_ENOSYS"),
}

DEFINE_RE = re.compile(r"(?<![\w])SYSCALL_DEFINE([0-6])\s*\(")
COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
SKIP_TOP = {"arch", "tools", "Documentation", "samples", "scripts",
            "include", "usr", "LICENSES", ".git"}


class Def:
    def __init__(self, name, args, path, line, branch):
        self.name = name
        self.args = args          # [(type, name), ...] as in the kernel
        self.path = path
        self.line = line
        self.branch = branch      # innermost conditional: "if"/"else"/None

    def signature(self):
        return tuple(t for t, _ in self.args)


# ---------------------------------------------------------------------------
# The system call table

def run_cpp(cc, include, defines=(), dump=False):
    cmd = [cc, "-E", "-P", "-I", include]
    if dump:
        cmd.append("-dM")
    cmd += list(defines)
    cmd += ["-x", "c", "-"]
    p = subprocess.run(cmd, input="#include <lkl/asm/unistd.h>\n",
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("gen_syscalls: preprocessor failed:\n" + p.stderr)
    return p.stdout


def eval_int(expr, macros, depth=0):
    """Evaluate a small integer macro expression (numbers, + - *, ())."""
    if depth > 20:
        raise ValueError(expr)

    def sub(m):
        name = m.group(0)
        if name in macros:
            return "(%d)" % eval_int(macros[name], macros, depth + 1)
        raise ValueError(name)
    text = re.sub(r"[A-Za-z_]\w*", sub, expr)
    text = re.sub(r"(\d+)[uUlL]+", r"\1", text)
    if not re.fullmatch(r"[\d\s()+\-*<>|&]*", text):
        raise ValueError(expr)
    return int(eval(text, {"__builtins__": {}}))  # only digits/operators


def read_table(cc, include):
    """[(number, user-visible name, kernel function)] in table order."""
    macros = {}
    for line in run_cpp(cc, include, dump=True).splitlines():
        m = re.match(r"#define (\w+) (.*)$", line)
        if m:
            macros[m.group(1)] = m.group(2).strip()
    names = {}
    for macro in macros:
        m = re.fullmatch(r"__lkl__NR_(\w+)", macro)
        if not m or m.group(1) in ("syscalls", "arch_specific_syscall"):
            continue
        try:
            nr = eval_int(macros[macro], macros)
        except ValueError:
            continue
        names.setdefault(nr, []).append(m.group(1))

    out = run_cpp(cc, include,
                  ["-D__lkl__SYSCALL(nr,call)=@lkl_sc nr call@"])
    table = []
    for m in re.finditer(r"@lkl_sc\s+(.+?)\s+(\w+)\s*@", out):
        nr = eval_int(m.group(1), macros)
        if nr not in names:
            raise SystemExit("gen_syscalls: no __lkl__NR_ name for %d" % nr)
        if len(names[nr]) > 1:
            raise SystemExit("gen_syscalls: several names for %d: %s" %
                             (nr, names[nr]))
        call = m.group(2)
        if call.startswith("sys_"):
            call = call[4:]
        table.append((nr, names[nr][0], call))
    if not table:
        raise SystemExit("gen_syscalls: empty system call table")
    return table


# ---------------------------------------------------------------------------
# SYSCALL_DEFINE scanning

def branch_map(text):
    """For each line, the kind of the innermost enclosing #if branch."""
    kinds = [None]
    stack = []
    for line in text.split("\n"):
        m = re.match(r"\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b", line)
        if m:
            d = m.group(1)
            if d.startswith("if"):
                stack.append("if")
            elif d == "elif":
                if stack:
                    stack[-1] = "elif"
            elif d == "else":
                if stack:
                    stack[-1] = "else"
            elif stack:
                stack.pop()
        kinds.append(stack[-1] if stack else None)
    return kinds


def split_top(text):
    parts, depth, cur = [], 0, []
    for c in text:
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return [re.sub(r"\s+", " ", p).strip() for p in parts]


def scan_file(path, rel, defs):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if "SYSCALL_DEFINE" not in text:
        return
    # Blank out comments, keeping line numbers.
    text = COMMENT_RE.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    branches = None
    for m in DEFINE_RE.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if text[line_start:m.start()].lstrip().startswith("#"):
            continue                      # a macro that defines others
        depth, j = 1, m.end()
        while depth and j < len(text):
            if text[j] == "(":
                depth += 1
            elif text[j] == ")":
                depth -= 1
            j += 1
        parts = split_top(text[m.end():j - 1])
        nargs = int(m.group(1))
        if len(parts) != 1 + 2 * nargs:
            continue
        if branches is None:
            branches = branch_map(text)
        line = text.count("\n", 0, m.start()) + 1
        args = [(parts[1 + 2 * i], parts[2 + 2 * i]) for i in range(nargs)]
        defs.setdefault(parts[0], []).append(
            Def(parts[0], args, rel, line, branches[line]))


def scan_kernel(ksrc):
    defs = {}
    for root, dirs, files in os.walk(ksrc):
        rel_root = os.path.relpath(root, ksrc)
        if rel_root == ".":
            dirs[:] = [d for d in dirs if d not in SKIP_TOP]
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".c"):
                rel = os.path.normpath(os.path.join(rel_root, name))
                scan_file(os.path.join(root, name), rel, defs)
    arch = os.path.join(ksrc, "arch", "lkl")
    arch_defs = {}
    for root, dirs, files in os.walk(arch, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".c"):
                path = os.path.join(root, name)
                scan_file(path, os.path.relpath(path, ksrc), arch_defs)
    return defs, arch_defs


def choose(name, defs, arch_defs):
    """The definition to type the wrapper from, or None."""
    if name in arch_defs:
        return arch_defs[name][0]
    cands = defs.get(name)
    if not cands:
        return None
    if len({d.signature() for d in cands}) == 1:
        return cands[0]
    default = [d for d in cands if d.branch == "else"]
    if len({d.signature() for d in default}) == 1:
        return default[0]
    raise SystemExit("gen_syscalls: cannot choose between definitions of %s:"
                     " %s" % (name, ", ".join("%s:%d" % (d.path, d.line)
                                               for d in cands)))


# ---------------------------------------------------------------------------
# Types

class UapiIndex:
    """Where the prefixed headers define typedefs and enum tags."""

    def __init__(self, include, base_headers):
        self.typedefs = {}
        self.tags = set()
        self.enum_tags = {}
        self.includes = {}
        defined = {}
        top = os.path.join(include, prefix_uapi.PREFIX_DIR)
        found = []
        for root, dirs, files in os.walk(top):
            for name in files:
                if name.endswith(".h") and name != "syscalls.h":
                    path = os.path.join(root, name)
                    found.append(os.path.relpath(path, include)
                                 .replace(os.sep, "/"))
        # When several headers define a name, prefer the architecture's
        # asm/ header, then linux/, then the rest, asm-generic/ last.
        rank = {"asm": 0, "linux": 1, "asm-generic": 3}
        found.sort(key=lambda r: (rank.get(r.split("/")[1], 2), r))
        for rel in found:
            path = os.path.join(include, rel)
            with open(path, encoding="utf-8",
                      errors="surrogateescape") as f:
                text = f.read()
            self.includes[rel] = re.findall(
                r"^\s*#\s*include\s*<(%s/[^>]+)>" %
                prefix_uapi.PREFIX_DIR, text, re.M)
            d = prefix_uapi.Definitions()
            d.scan(text)
            defined[rel] = d.ordinary
            self.tags |= d.tags
            # Headers that contradict the ones in use are no source.
            unprefixed = rel.split("/", 1)[1]
            if unprefixed in prefix_uapi.TOGETHER_EXCLUDE:
                continue
            for t in d.ordinary:
                self.typedefs.setdefault(t, rel)
            for m in re.finditer(r"\benum\s+(\w+)\s*\{", text):
                self.enum_tags.setdefault(m.group(1), rel)
        # What the always-included headers already provide.
        self.provided = set()
        seen, todo = set(), list(base_headers)
        while todo:
            h = todo.pop()
            if h in seen or h not in self.includes:
                continue
            seen.add(h)
            self.provided |= defined[h]
            todo.extend(self.includes[h])

    def typedef_header(self, name):
        """The header to include for typedef name (None: none needed)."""
        if name in self.provided:
            return None
        return self.public_header(self.typedefs.get(name))

    def public_header(self, rel):
        """asm/x.h rather than the asm-generic/x.h it includes."""
        if rel and rel.startswith("lkl/asm-generic/"):
            arch = "lkl/asm/" + rel[len("lkl/asm-generic/"):]
            if rel in self.includes.get(arch, ()):
                return arch
        return rel


class TypeMapper:
    def __init__(self, index):
        self.index = index
        self.records = set()      # "struct lkl_x" / "union lkl_x" to declare
        self.headers = set()      # extra headers the types need
        self.unknown = set()

    def convert(self, ktype):
        toks = re.findall(r"[A-Za-z_]\w*|\*|\S", ktype)
        toks = [t for t in toks if t != "__user"]
        out = []
        k = 0
        while k < len(toks):
            t = toks[k]
            if t in ("struct", "union", "enum") and k + 1 < len(toks):
                tag = lkl_name(toks[k + 1])
                if t == "enum":
                    if tag in self.index.enum_tags:
                        self.headers.add(self.index.public_header(
                            self.index.enum_tags[tag]))
                        out.append("enum " + tag)
                    else:
                        out.append("int")
                else:
                    self.records.add("%s %s" % (t, tag))
                    out.append("%s %s" % (t, tag))
                k += 2
                continue
            if t in C_TYPE_WORDS or t == "*":
                out.append(t)
            elif t in TYPE_MAP:
                out.append(TYPE_MAP[t])
            elif lkl_name(t) in self.index.typedefs:
                header = self.index.typedef_header(lkl_name(t))
                if header:
                    self.headers.add(header)
                out.append(lkl_name(t))
            else:
                self.unknown.add(t)
                out.append("long")
            k += 1
        text = " ".join(out)
        text = re.sub(r"\* (?=\*)", "*", text)
        text = re.sub(r"\s+\*", " *", text)
        return text


def declarator(ctype, name):
    if ctype.endswith("*"):
        return ctype + name
    return ctype + " " + name


# ---------------------------------------------------------------------------
# Output

def wrapper(name, params, comment):
    """A wrapper function; params: [(ctype, name)]."""
    lines = ["/* %s */" % comment]
    if params:
        decl = ", ".join(declarator(t, n) for t, n in params)
    else:
        decl = "void"
    head = "static inline long lkl_sys_%s(" % name
    lines.append(wrap_params(head, decl.split(", ")) + ")")
    lines.append("{")
    vals = ["(long)%s" % n for _, n in params] + ["0"] * (6 - len(params))
    lines.append(wrap_params("\tlong lkl_args[6] = { ", vals) + " };")
    lines.append("")
    lines.append("\treturn lkl_syscall(__lkl__NR_%s, lkl_args);" % name)
    lines.append("}")
    return "\n".join(lines)


def wrap_params(head, items, width=80):
    """head + items joined by ", ", broken before width (tabs are 8)."""
    indent = " " * len(head.expandtabs())
    tabs = "\t" * (len(indent) // 8) + " " * (len(indent) % 8)
    lines, cur = [], head
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if cur not in (head, tabs) and len(cur.expandtabs()) + 1 + \
                len(piece) + 2 > width:
            lines.append(cur)
            cur = tabs + piece
        else:
            cur += ("" if cur in (head, tabs) else " ") + piece
    lines.append(cur)
    return "\n".join(lines)


def param_name(name, used):
    name = name.strip()
    if name in BAD_PARAM_NAMES or name.startswith("lkl_args"):
        name += "_"
    while name in used:
        name += "_"
    used.add(name)
    return name


# The classic calls, on top of the *at calls. Each entry:
# (name, needs (wrappers that must exist), C text).
CLASSIC = [
    ("open", ["openat"], """
static inline long lkl_sys_open(const char *filename, int flags,
				lkl_umode_t mode)
{
	return lkl_sys_openat(LKL_AT_FDCWD, filename, flags, mode);
}"""),
    ("creat", ["openat"], """
static inline long lkl_sys_creat(const char *filename, lkl_umode_t mode)
{
	return lkl_sys_openat(LKL_AT_FDCWD, filename,
			      LKL_O_CREAT | LKL_O_WRONLY | LKL_O_TRUNC, mode);
}"""),
    ("mkdir", ["mkdirat"], """
static inline long lkl_sys_mkdir(const char *pathname, lkl_umode_t mode)
{
	return lkl_sys_mkdirat(LKL_AT_FDCWD, pathname, mode);
}"""),
    ("rmdir", ["unlinkat"], """
static inline long lkl_sys_rmdir(const char *pathname)
{
	return lkl_sys_unlinkat(LKL_AT_FDCWD, pathname, LKL_AT_REMOVEDIR);
}"""),
    ("mknod", ["mknodat"], """
static inline long lkl_sys_mknod(const char *filename, lkl_umode_t mode,
				 unsigned int dev)
{
	return lkl_sys_mknodat(LKL_AT_FDCWD, filename, mode, dev);
}"""),
    ("stat", ["newfstatat"], """
static inline long lkl_sys_stat(const char *filename,
				struct lkl_stat *statbuf)
{
	return lkl_sys_newfstatat(LKL_AT_FDCWD, filename, statbuf, 0);
}"""),
    ("lstat", ["newfstatat"], """
static inline long lkl_sys_lstat(const char *filename,
				 struct lkl_stat *statbuf)
{
	return lkl_sys_newfstatat(LKL_AT_FDCWD, filename, statbuf,
				  LKL_AT_SYMLINK_NOFOLLOW);
}"""),
    ("unlink", ["unlinkat"], """
static inline long lkl_sys_unlink(const char *pathname)
{
	return lkl_sys_unlinkat(LKL_AT_FDCWD, pathname, 0);
}"""),
    ("rename", ["renameat"], """
static inline long lkl_sys_rename(const char *oldname, const char *newname)
{
	return lkl_sys_renameat(LKL_AT_FDCWD, oldname, LKL_AT_FDCWD, newname);
}"""),
    ("link", ["linkat"], """
static inline long lkl_sys_link(const char *oldname, const char *newname)
{
	return lkl_sys_linkat(LKL_AT_FDCWD, oldname, LKL_AT_FDCWD, newname, 0);
}"""),
    ("symlink", ["symlinkat"], """
static inline long lkl_sys_symlink(const char *oldname, const char *newname)
{
	return lkl_sys_symlinkat(oldname, LKL_AT_FDCWD, newname);
}"""),
    ("readlink", ["readlinkat"], """
static inline long lkl_sys_readlink(const char *path, char *buf, int bufsiz)
{
	return lkl_sys_readlinkat(LKL_AT_FDCWD, path, buf, bufsiz);
}"""),
    ("chmod", ["fchmodat"], """
static inline long lkl_sys_chmod(const char *filename, lkl_umode_t mode)
{
	return lkl_sys_fchmodat(LKL_AT_FDCWD, filename, mode);
}"""),
    ("chown", ["fchownat"], """
static inline long lkl_sys_chown(const char *filename, lkl_uid_t user,
				 lkl_gid_t group)
{
	return lkl_sys_fchownat(LKL_AT_FDCWD, filename, user, group, 0);
}"""),
    ("lchown", ["fchownat"], """
static inline long lkl_sys_lchown(const char *filename, lkl_uid_t user,
				  lkl_gid_t group)
{
	return lkl_sys_fchownat(LKL_AT_FDCWD, filename, user, group,
				LKL_AT_SYMLINK_NOFOLLOW);
}"""),
    ("access", ["faccessat"], """
static inline long lkl_sys_access(const char *filename, int mode)
{
	return lkl_sys_faccessat(LKL_AT_FDCWD, filename, mode);
}"""),
    ("utimes", ["utimensat"], """
/* times == NULL sets both times to now, as utimes(2) does. */
static inline long lkl_sys_utimes(const char *filename,
				  struct lkl_timeval *utimes)
{
	struct __lkl__kernel_timespec ts[2];

	if (!utimes)
		return lkl_sys_utimensat(LKL_AT_FDCWD, filename, 0, 0);
	if (utimes[0].tv_usec < 0 || utimes[0].tv_usec >= 1000000 ||
	    utimes[1].tv_usec < 0 || utimes[1].tv_usec >= 1000000)
		return -LKL_EINVAL;
	ts[0].tv_sec = utimes[0].tv_sec;
	ts[0].tv_nsec = utimes[0].tv_usec * 1000;
	ts[1].tv_sec = utimes[1].tv_sec;
	ts[1].tv_nsec = utimes[1].tv_usec * 1000;
	return lkl_sys_utimensat(LKL_AT_FDCWD, filename, ts, 0);
}"""),
    ("pipe", ["pipe2"], """
static inline long lkl_sys_pipe(int *fildes)
{
	return lkl_sys_pipe2(fildes, 0);
}"""),
    ("dup2", ["dup3", "fcntl"], """
/* Like dup2(2): duplicating a valid descriptor onto itself is a no-op. */
static inline long lkl_sys_dup2(unsigned int oldfd, unsigned int newfd)
{
	if (oldfd == newfd) {
		long ret = lkl_sys_fcntl(oldfd, LKL_F_GETFD, 0);

		return ret < 0 ? ret : (long)newfd;
	}
	return lkl_sys_dup3(oldfd, newfd, 0);
}"""),
    ("epoll_create", ["epoll_create1"], """
static inline long lkl_sys_epoll_create(int size)
{
	if (size <= 0)
		return -LKL_EINVAL;
	return lkl_sys_epoll_create1(0);
}"""),
    ("epoll_wait", ["epoll_pwait"], """
static inline long lkl_sys_epoll_wait(int epfd, struct lkl_epoll_event *events,
				      int maxevents, int timeout)
{
	return lkl_sys_epoll_pwait(epfd, events, maxevents, timeout, 0,
				   sizeof(lkl_sigset_t));
}"""),
    ("poll", ["ppoll"], """
/* timeout in milliseconds; negative waits for ever, as poll(2). */
static inline long lkl_sys_poll(struct lkl_pollfd *ufds, unsigned int nfds,
				int timeout)
{
	struct __lkl__kernel_timespec ts;

	if (timeout < 0)
		return lkl_sys_ppoll(ufds, nfds, 0, 0, sizeof(lkl_sigset_t));
	ts.tv_sec = timeout / 1000;
	ts.tv_nsec = (timeout % 1000) * 1000000L;
	return lkl_sys_ppoll(ufds, nfds, &ts, 0, sizeof(lkl_sigset_t));
}"""),
]

# Headers the classic calls need (complete types and constants).
CLASSIC_HEADERS = [
    "lkl/linux/fcntl.h",        # LKL_AT_*, LKL_O_*, LKL_F_GETFD
    "lkl/asm/errno.h",          # LKL_EINVAL
    "lkl/linux/time.h",         # struct lkl_timeval
    "lkl/linux/time_types.h",   # struct __lkl__kernel_timespec
    "lkl/asm/signal.h",         # lkl_sigset_t
]

BASE_HEADERS = [
    "lkl/asm/host_ops.h",       # lkl_syscall()
    "lkl/asm/unistd.h",         # __lkl__NR_*
    "lkl/linux/types.h",        # __lkl__u32, __lkl__kernel_*
]


HEADER_TEMPLATE = """\
/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Generated by syscalls/gen_syscalls.py from the SYSCALL_DEFINE
 * declarations of %(version)s and the architecture's system call table.
 * Do not edit.
 *
 * One lkl_sys_<name>() per entry of the table, named after its
 * __lkl__NR_<name> number. Each returns what the kernel returns: a
 * result >= 0, or a negative LKL_E* error.
 */
#ifndef _LKL_SYSCALLS_H
#define _LKL_SYSCALLS_H

%(includes)s

#ifdef __cplusplus
extern "C" {
#endif

/* Kernel types without a UAPI spelling of their own. */
%(typedefs)s

/*
 * Types the system calls take by pointer. Those from the UAPI are complete
 * in their lkl/ headers (lkl.h includes the filesystem ones).
 */
%(records)s

%(wrappers)s

/*
 * Classic calls that the generic table lacks, as programs written for
 * upstream LKL use them, implemented on the *at calls.
 */

%(classic)s

#ifdef __cplusplus
}
#endif

#endif /* _LKL_SYSCALLS_H */
"""


def record_note(record, index):
    if record == "struct lkl_linux_dirent64":
        return "\t/* defined in <lkl.h> */"
    if record.split()[1] in index.tags:
        return ""
    return "\t/* not in the UAPI: incomplete */"


def generate(table, defs, arch_defs, index, ksrc_label):
    mapper = TypeMapper(index)
    bodies = []
    report = {"define": [], "arch": [], "explicit": [], "untyped": []}
    wrapped = set()
    for nr, name, call in table:
        d = choose(call, defs, arch_defs)
        used = set()
        if d is not None:
            params = [(mapper.convert(t), param_name(n, used))
                      for t, n in d.args]
            comment = "%d: sys_%s, %s:%d" % (nr, call, d.path, d.line)
            report["define"].append(name)
            if d.path.startswith("arch" + os.sep):
                report["arch"].append(name)
        elif call in EXPLICIT:
            kparams, note = EXPLICIT[call]
            params = [(mapper.convert(t), param_name(n, used))
                      for t, n in kparams]
            comment = "%d: sys_%s, %s" % (nr, call, note)
            report["explicit"].append(name)
        else:
            params = [("long", "arg%d" % i) for i in range(1, 7)]
            comment = ("%d: sys_%s: no SYSCALL_DEFINE found, arguments "
                       "untyped" % (nr, call))
            report["untyped"].append(name)
        bodies.append(wrapper(name, params, comment))
        wrapped.add(name)

    classic = []
    for name, needs, text in CLASSIC:
        if name in wrapped or not all(n in wrapped for n in needs):
            continue
        classic.append(text.strip("\n"))
        report.setdefault("classic", []).append(name)
    mapper.records.update(["struct lkl_stat", "struct lkl_timeval",
                           "struct lkl_epoll_event", "struct lkl_pollfd"])

    if mapper.unknown:
        raise SystemExit("gen_syscalls: unknown kernel types: " +
                         ", ".join(sorted(mapper.unknown)))

    headers = BASE_HEADERS + [h for h in CLASSIC_HEADERS
                              if h not in BASE_HEADERS]
    headers += sorted(h for h in mapper.headers if h not in headers)
    report["wrappers"] = len(bodies)
    text = HEADER_TEMPLATE % {
        "version": ksrc_label,
        "includes": "\n".join("#include <%s>" % h for h in headers),
        "typedefs": "\n".join("typedef %s %s;" % (old, new)
                               for new, old in TYPEDEFS),
        "records": "\n".join("%s;%s" % (r, record_note(r, index))
                              for r in sorted(mapper.records)),
        "wrappers": "\n\n".join(bodies),
        "classic": "\n\n".join(classic),
    }
    return text, report


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--include", required=True,
                    help="directory holding the prefixed lkl/ headers")
    ap.add_argument("--ksrc", required=True, help="kernel source tree")
    ap.add_argument("--out", help="output file "
                    "(default INCLUDE/lkl/syscalls.h)")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("--stamp", help="file to touch when done")
    ap.add_argument("--report", action="store_true",
                    help="print how each system call was typed")
    args = ap.parse_args()

    out_path = args.out or os.path.join(args.include, "lkl", "syscalls.h")
    table = read_table(args.cc, args.include)
    defs, arch_defs = scan_kernel(args.ksrc)
    index = UapiIndex(args.include, BASE_HEADERS + CLASSIC_HEADERS)
    text, report = generate(table, defs, arch_defs, index, "Linux " +
                            kernel_version(args.ksrc))
    prefix_uapi.write_if_changed(out_path, text)

    if args.report:
        print("gen_syscalls: %d table entries, %d wrappers" %
              (len(table), report["wrappers"]))
        print("  typed from SYSCALL_DEFINE: %d (arch/lkl's: %s)" %
              (len(report["define"]), " ".join(report["arch"]) or "none"))
        print("  typed from the explicit table: %d (%s)" %
              (len(report["explicit"]), " ".join(report["explicit"])))
        print("  untyped: %d (%s)" % (len(report["untyped"]),
                                      " ".join(report["untyped"])))
        print("  classic calls: %d (%s)" % (len(report.get("classic", [])),
                                           " ".join(report.get("classic",
                                                               []))))
    if args.stamp:
        with open(args.stamp, "w") as f:
            f.write("")
    return 0


def kernel_version(ksrc):
    try:
        with open(os.path.join(ksrc, "Makefile")) as f:
            head = f.read(2000)
    except OSError:
        return "?"
    v = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL) = (\d+)", head,
                        re.M))
    return "%s.%s.%s" % (v.get("VERSION", "?"), v.get("PATCHLEVEL", "?"),
                         v.get("SUBLEVEL", "?"))


if __name__ == "__main__":
    sys.exit(main())
