#!/usr/bin/env python3
"""Generate ward-protocol's service-model tables from botocore's models.

Reads botocore's ``service-2.json`` (plain or ``.json.gz``) for IAM
(2010-05-08) and STS (2011-06-15) and writes ``src/generated/iam.rs`` and
``src/generated/sts.rs``: static tables (types in ``src/model.rs``) holding,
for every operation, its input members with their constraints (required,
type, length, pattern, value range, enum, list/map/structure children), its
response wrapper element names and the errors it documents, plus the
service's API version and XML namespace.

Java regular expressions from the models are translated to the ``regex``
crate's syntax here (ASCII ``\\w``/``\\d``/``\\s`` as Java has them,
``\\uXXXX`` escapes, whole-value anchoring); a pattern using a construct the
crate lacks (look-around) is emitted untranslated and is not enforced.

Usage:
    pip download botocore==VERSION --no-deps -d /tmp/botocore
    (cd /tmp/botocore && unzip -o -q botocore-*.whl)
    python3 crates/protocol/gen/gen_shapes.py /tmp/botocore/botocore

The argument is the ``botocore`` package directory (holding ``data/`` and
``__init__.py``). Output goes beside this script in ``../src/generated/``.
Run ``cargo test -p ward-protocol`` afterwards: a test compiles every
translated pattern.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys

SERVICES = [
    ("iam", "2010-05-08", "IAM"),
    ("sts", "2011-06-15", "STS"),
]

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "src", "generated")


class Unsupported(Exception):
    pass


def load_model(botocore_dir: str, service: str, version: str) -> dict:
    base = os.path.join(botocore_dir, "data", service, version, "service-2.json")
    if os.path.exists(base):
        with open(base, "rb") as f:
            return json.load(f)
    if os.path.exists(base + ".gz"):
        with gzip.open(base + ".gz", "rb") as f:
            return json.load(f)
    sys.exit(f"no model at {base}(.gz)")


def botocore_version(botocore_dir: str) -> str:
    init = os.path.join(botocore_dir, "__init__.py")
    with open(init, encoding="utf-8") as f:
        m = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", f.read(), re.M)
    if not m:
        sys.exit(f"no __version__ in {init}")
    return m.group(1)


# --- Java regex -> regex crate ------------------------------------------------

WORD = "0-9A-Za-z_"
DIGIT = "0-9"
SPACE = r" \t\n\x0B\f\r"


def translate_pattern(pattern: str) -> str:
    """Translate a Java regex to the regex crate, anchored for a full match.

    Java's ``\\w``, ``\\d`` and ``\\s`` are ASCII-only (no UNICODE_CHARACTER_CLASS
    flag), the crate's are Unicode: spell them out. ``\\uXXXX`` takes exactly
    four hex digits in Java (so ``\\u10000`` is U+1000 then ``0``): keep that
    reading, it is what AWS enforces. Raise Unsupported for look-around and
    for escapes whose meaning differs.
    """
    out = []
    i = 0
    depth = 0  # character-class nesting
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise Unsupported("trailing backslash")
            e = pattern[i + 1]
            if e == "u":
                hexd = pattern[i + 2 : i + 6]
                if len(hexd) != 4 or not all(h in "0123456789abcdefABCDEF" for h in hexd):
                    raise Unsupported("bad \\u escape")
                cp = int(hexd, 16)
                if 0xD800 <= cp <= 0xDFFF:
                    raise Unsupported("surrogate escape")
                out.append("\\x{%s}" % hexd)
                i += 6
                continue
            if e == "x":
                hexd = pattern[i + 2 : i + 4]
                if len(hexd) != 2:
                    raise Unsupported("bad \\x escape")
                out.append("\\x" + hexd)
                i += 4
                continue
            if e in "pP":
                m = re.match(r"\{([A-Za-z_]+)\}", pattern[i + 2 :])
                if not m:
                    raise Unsupported("bad \\p escape")
                out.append("\\%s{%s}" % (e, m.group(1)))
                i += 2 + len(m.group(0))
                continue
            if e in "wds":
                cls = {"w": WORD, "d": DIGIT, "s": SPACE}[e]
                out.append(cls if depth else "[" + cls + "]")
            elif e in "WDS":
                if depth:
                    raise Unsupported("negated class escape inside a class")
                cls = {"W": WORD, "D": DIGIT, "S": SPACE}[e]
                out.append("[^" + cls + "]")
            elif e in "tnrf":
                out.append("\\" + e)
            elif e.isalnum():
                raise Unsupported("escape \\" + e)
            else:
                # Punctuation escapes are literal in both dialects.
                out.append("\\" + e)
            i += 2
            continue
        if c == "[":
            depth += 1
            out.append("[")
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            continue
        if c == "]" and depth:
            depth -= 1
            out.append("]")
            i += 1
            continue
        if depth:
            # Inside a class the regex crate reads "--", "~~" and "&&" as set
            # operations; Java reads only "&&" so. Escape the others.
            if c in "-~" and i + 1 < n and pattern[i + 1] == c:
                out.append("\\" + c)
                i += 1
                continue
            out.append(c)
            i += 1
            continue
        if c == "(" and pattern.startswith("(?", i):
            if not pattern.startswith("(?:", i):
                raise Unsupported("group construct " + pattern[i : i + 4])
        out.append(c)
        i += 1
    if depth:
        raise Unsupported("unbalanced class")
    return "^(?:" + "".join(out) + ")$"


# --- emitting -----------------------------------------------------------------


def rust_str(s: str) -> str:
    for hashes in range(0, 4):
        fence = "#" * hashes
        if '"' + fence not in s and not (hashes == 0 and '"' in s):
            return 'r%s"%s"%s' % (fence, s, fence)
    raise ValueError("cannot quote " + s)


def ident(prefix: str, name: str, taken: set) -> str:
    base = prefix + re.sub(r"[^A-Za-z0-9]+", "_", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)).upper()
    cand = base
    k = 2
    while cand in taken:
        cand = "%s_%d" % (base, k)
        k += 1
    taken.add(cand)
    return cand


def opt(v) -> str:
    return "None" if v is None else "Some(%d)" % v


def generate(service: str, version: str, label: str, model: dict, bc_version: str) -> str:
    meta = model["metadata"]
    if meta.get("protocol") != "query":
        sys.exit(f"{service}: protocol {meta.get('protocol')!r}, expected query")
    if meta["apiVersion"] != version:
        sys.exit(f"{service}: apiVersion {meta['apiVersion']} != {version}")
    shapes = model["shapes"]
    ops = model["operations"]

    # Shapes reachable from operation inputs, and every error shape.
    reach: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        sh = shapes[name]
        t = sh["type"]
        if t == "structure":
            for m in sh.get("members", {}).values():
                visit(m["shape"])
        elif t == "list":
            visit(sh["member"]["shape"])
        elif t == "map":
            visit(sh["key"]["shape"])
            visit(sh["value"]["shape"])
        reach.append(name)

    input_shapes = set()
    for op in ops.values():
        if "input" in op:
            input_shapes.add(op["input"]["shape"])
            for m in shapes[op["input"]["shape"]].get("members", {}).values():
                visit(m["shape"])
    # Input structures nested in other inputs are shapes too; top-level input
    # structures are inlined into their operation.

    taken: set[str] = set()
    shape_ident = {name: ident("S_", name, taken) for name in sorted(seen)}
    patterns: dict[str, str] = {}
    unsupported: list[tuple[str, str, str]] = []

    def pattern_ident(p: str) -> str:
        if p not in patterns:
            patterns[p] = "P_%d" % len(patterns)
        return patterns[p]

    def members_rs(sh: dict, indent: str) -> str:
        req = set(sh.get("required", []))
        items = []
        for mname, m in sh.get("members", {}).items():
            loc = m.get("locationName")
            if loc and loc != mname:
                sys.exit(f"{service}: member {mname} has locationName {loc}; not supported")
            items.append(
                "%sMember { name: %s, required: %s, shape: &%s },"
                % (indent, rust_str(mname), "true" if mname in req else "false", shape_ident[m["shape"]])
            )
        if not items:
            return "&[]"
        return "&[\n" + "\n".join(items) + "\n" + indent[:-4] + "]"

    kinds = {
        "string": "String",
        "integer": "Integer",
        "long": "Long",
        "double": "Double",
        "float": "Double",
        "boolean": "Boolean",
        "timestamp": "Timestamp",
        "blob": "Blob",
    }

    shape_items = []
    for name in sorted(seen):
        sh = shapes[name]
        t = sh["type"]
        if t in kinds:
            kind = "ShapeKind::" + kinds[t]
        elif t == "list":
            if sh.get("flattened") or sh["member"].get("locationName"):
                sys.exit(f"{service}: list {name} is flattened or renamed; not supported")
            kind = "ShapeKind::List { member: &%s }" % shape_ident[sh["member"]["shape"]]
        elif t == "map":
            if sh.get("flattened") or sh["key"].get("locationName") or sh["value"].get("locationName"):
                sys.exit(f"{service}: map {name} is flattened or renamed; not supported")
            kind = "ShapeKind::Map { key: &%s, value: &%s }" % (
                shape_ident[sh["key"]["shape"]],
                shape_ident[sh["value"]["shape"]],
            )
        elif t == "structure":
            kind = "ShapeKind::Structure {\n        members: %s,\n    }" % members_rs(sh, " " * 12)
        else:
            sys.exit(f"{service}: shape {name} has unknown type {t}")
        numeric = t in ("integer", "long", "double", "float")
        min_len = None if numeric else sh.get("min")
        max_len = None if numeric else sh.get("max")
        min_val = sh.get("min") if numeric else None
        max_val = sh.get("max") if numeric else None
        for v in (min_len, max_len, min_val, max_val):
            if v is not None and not isinstance(v, int):
                sys.exit(f"{service}: shape {name} has non-integer bound {v!r}")
        pat = "None"
        if "pattern" in sh:
            pat = "Some(&%s)" % pattern_ident(sh["pattern"])
        enum = sh.get("enum", [])
        enum_rs = "&[" + ", ".join(rust_str(e) for e in enum) + "]"
        shape_items.append(
            "static %s: Shape = Shape {\n"
            "    name: %s,\n"
            "    kind: %s,\n"
            "    min_length: %s,\n"
            "    max_length: %s,\n"
            "    min_value: %s,\n"
            "    max_value: %s,\n"
            "    pattern: %s,\n"
            "    enum_values: %s,\n"
            "    sensitive: %s,\n"
            "};"
            % (
                shape_ident[name],
                rust_str(name),
                kind,
                opt(min_len),
                opt(max_len),
                opt(min_val),
                opt(max_val),
                pat,
                enum_rs,
                "true" if sh.get("sensitive") else "false",
            )
        )

    pattern_items = []
    for p, pid in patterns.items():
        users = sorted(n for n in seen if shapes[n].get("pattern") == p)
        try:
            tr = rust_str(translate_pattern(p))
            pattern_items.append("static %s: Pattern = Pattern::new(%s, Some(%s));" % (pid, rust_str(p), tr))
        except Unsupported as e:
            unsupported.append((p, str(e), ", ".join(users)))
            pattern_items.append(
                "// Not enforced: %s (used by %s).\nstatic %s: Pattern = Pattern::new(%s, None);"
                % (e, ", ".join(users), pid, rust_str(p))
            )

    # Errors.
    err_ident = {}
    err_items = []
    err_taken: set[str] = set()
    for name in sorted(n for n, sh in shapes.items() if sh.get("exception")):
        info = shapes[name].get("error") or {}
        code = info.get("code", name)
        status = info.get("httpStatusCode", 400)
        sender = bool(info.get("senderFault", False)) if "error" in shapes[name] else True
        eid = ident("E_", code, err_taken)
        err_ident[name] = eid
        err_items.append(
            "static %s: ErrorInfo = ErrorInfo {\n"
            "    shape: %s,\n"
            "    code: %s,\n"
            "    status: %d,\n"
            "    sender_fault: %s,\n"
            "};" % (eid, rust_str(name), rust_str(code), status, "true" if sender else "false")
        )
    errors_by_code = sorted(err_ident.items(), key=lambda kv: (shapes[kv[0]].get("error") or {}).get("code", kv[0]))

    op_items = []
    for name in sorted(ops):
        op = ops[name]
        if op.get("name", name) != name:
            sys.exit(f"{service}: operation key {name} != name {op.get('name')}")
        if "input" in op:
            members = members_rs(shapes[op["input"]["shape"]], " " * 12)
        else:
            members = "&[]"
        result = "None"
        if "output" in op:
            wrapper = op["output"].get("resultWrapper")
            if wrapper is None:
                sys.exit(f"{service}: {name} has output without resultWrapper")
            if wrapper != name + "Result":
                sys.exit(f"{service}: {name} wraps its result in {wrapper}")
            result = "Some(%s)" % rust_str(wrapper)
        errs = ", ".join("&" + err_ident[e["shape"]] for e in op.get("errors", []))
        op_items.append(
            "    Operation {\n"
            "        name: %s,\n"
            "        input: %s,\n"
            "        response_element: %s,\n"
            "        result_element: %s,\n"
            "        errors: &[%s],\n"
            "    },"
            % (rust_str(name), members, rust_str(name + "Response"), result, errs)
        )

    lines = []
    lines.append("// @generated by crates/protocol/gen/gen_shapes.py -- do not edit by hand.")
    lines.append("//")
    lines.append(
        "// Source: botocore %s, botocore/data/%s/%s/service-2.json (%d operations)."
        % (bc_version, service, version, len(ops))
    )
    lines.append("// Regenerate:")
    lines.append("//   pip download botocore==%s --no-deps -d /tmp/botocore" % bc_version)
    lines.append("//   (cd /tmp/botocore && unzip -o -q botocore-*.whl)")
    lines.append("//   python3 crates/protocol/gen/gen_shapes.py /tmp/botocore/botocore")
    if unsupported:
        lines.append("//")
        lines.append("// Patterns the regex crate cannot express (not enforced):")
        for p, why, users in unsupported:
            lines.append("//   %s -- %s (%s)" % (p, why, users))
    lines.append("")
    lines.append("//! %s service model (%s), generated from botocore %s." % (label, version, bc_version))
    lines.append("")
    lines.append("use crate::model::{ErrorInfo, Member, Operation, Pattern, Shape, ShapeKind};")
    lines.append("")
    lines.append("/// The botocore release these tables were generated from.")
    lines.append("pub const BOTOCORE_VERSION: &str = %s;" % rust_str(bc_version))
    lines.append("/// The API version, sent as `Version`.")
    lines.append("pub const API_VERSION: &str = %s;" % rust_str(version))
    lines.append("/// The XML namespace of responses and errors.")
    lines.append("pub const XML_NAMESPACE: &str = %s;" % rust_str(meta["xmlNamespace"]))
    lines.append("")
    lines.append("/// Every operation, sorted by name.")
    lines.append("pub static OPERATIONS: &[Operation] = &[")
    lines.extend(op_items)
    lines.append("];")
    lines.append("")
    lines.append("/// Every modeled error, sorted by code.")
    lines.append(
        "pub static ERRORS: &[&ErrorInfo] = &[%s];" % ", ".join("&" + eid for _, eid in errors_by_code)
    )
    lines.append("")
    lines.extend(err_items)
    lines.append("")
    lines.extend(pattern_items)
    lines.append("")
    lines.extend(shape_items)
    lines.append("")
    return "\n".join(lines), unsupported


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    botocore_dir = sys.argv[1]
    bc_version = botocore_version(botocore_dir)
    os.makedirs(OUT_DIR, exist_ok=True)
    for service, version, label in SERVICES:
        model = load_model(botocore_dir, service, version)
        text, unsupported = generate(service, version, label, model, bc_version)
        path = os.path.join(OUT_DIR, service + ".rs")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(
            "%s: %d operations -> %s%s"
            % (
                service,
                len(model["operations"]),
                os.path.relpath(path),
                "; not enforced: " + "; ".join(p for p, _, _ in unsupported) if unsupported else "",
            )
        )


if __name__ == "__main__":
    main()
