"""A reader for the Go literals in Istio's table tests, for `transcribe`.

It tokenizes Go, parses the expressions a test table uses (composite literals, `&T{...}`,
calls such as `durationpb.New(2 * time.Second)`, constants) and evaluates them into the
JSON that the same resource would be written as in YAML: proto field names in lowerCamel,
enums by name, oneof wrappers (`&StringMatch_Exact{Exact: "x"}`) flattened, durations as
`"2s"`, bytes as base64, and very long repeated strings as `{"$repeat": ...}`.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

TOKEN = re.compile(
    r"""(?P<ws>\s+|//[^\n]*|/\*.*?\*/)
    |(?P<str>"(?:[^"\\\n]|\\.)*"|`[^`]*`)
    |(?P<rune>'(?:[^'\\]|\\.)*')
    |(?P<num>0[xX][0-9a-fA-F]+|\d+\.\d*(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)
    |(?P<id>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op><<|>>|:=|\.\.\.|&&|\|\||==|!=|[{}\[\](),:;&*+\-/.%<>=!|^])
    """,
    re.S | re.X,
)


def tokenize(src: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(src):
        m = TOKEN.match(src, pos)
        if not m:
            raise SyntaxError(f"bad char at {pos}: {src[pos : pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        out.append((kind, m.group()))
    return out


class Unsupported(Exception):
    pass


@dataclass
class Lit:
    type: str  # e.g. "&networking.VirtualService", "[]string", "" (elided)
    items: list[tuple[Any, Any]]  # (key or None, value)


@dataclass
class Call:
    fn: str
    args: list[Any]


@dataclass
class Ident:
    name: str


@dataclass
class Bin:
    op: str
    left: Any
    right: Any


@dataclass
class Unary:
    op: str
    operand: Any


class Parser:
    def __init__(self, tokens: list[tuple[str, str]], pos: int = 0) -> None:
        self.t = tokens
        self.p = pos

    def peek(self, k: int = 0) -> str:
        return self.t[self.p + k][1] if self.p + k < len(self.t) else ""

    def kind(self, k: int = 0) -> str:
        return self.t[self.p + k][0] if self.p + k < len(self.t) else ""

    def take(self, expect: str | None = None) -> str:
        tok = self.t[self.p][1]
        if expect is not None and tok != expect:
            raise SyntaxError(f"expected {expect} got {tok} near {self.context()}")
        self.p += 1
        return tok

    def context(self) -> str:
        return " ".join(v for _, v in self.t[max(0, self.p - 8) : self.p + 8])

    # type: []*networking.X, map[string]string, *networking.X, networking.X, struct{...}
    def parse_type(self) -> str:
        parts = []
        while True:
            tok = self.peek()
            if tok == "[":
                self.take()
                if self.peek() == "]":
                    self.take()
                    parts.append("[]")
                else:
                    n = self.take()
                    self.take("]")
                    parts.append(f"[{n}]")
            elif tok == "*":
                self.take()
                parts.append("*")
            elif tok == "map":
                self.take()
                self.take("[")
                k = self.parse_type()
                self.take("]")
                parts.append(f"map[{k}]")
            elif tok == "struct":
                self.take()
                depth = 0
                while True:
                    t = self.take()
                    if t == "{":
                        depth += 1
                    elif t == "}":
                        depth -= 1
                        if depth == 0:
                            break
                parts.append("struct")
                return "".join(parts)
            elif tok == "func":
                raise Unsupported("func type")
            else:
                name = self.take()
                while self.peek() == ".":
                    self.take()
                    name += "." + self.take()
                parts.append(name)
                return "".join(parts)

    def parse_expr(self, prec: int = 0) -> Any:
        left = self.parse_unary()
        ops = {
            "||": 1,
            "&&": 2,
            "==": 3,
            "!=": 3,
            "<": 3,
            ">": 3,
            "+": 4,
            "-": 4,
            "|": 4,
            "*": 5,
            "/": 5,
            "%": 5,
            "<<": 5,
            ">>": 5,
            "&": 5,
        }
        while self.peek() in ops and ops[self.peek()] > prec:
            op = self.take()
            right = self.parse_expr(ops[op])
            left = Bin(op, left, right)
        return left

    def parse_unary(self) -> Any:
        tok = self.peek()
        if tok == "&":
            self.take()
            operand = self.parse_unary()
            if isinstance(operand, Lit):
                operand.type = "&" + operand.type
                return operand
            return Unary("&", operand)
        if tok in ("-", "!", "+"):
            self.take()
            return Unary(tok, self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Any:
        kind, tok = self.kind(), self.peek()
        if tok == "{":
            return self.parse_lit_body("")
        if tok in ("[", "map", "struct"):
            typ = self.parse_type()
            if self.peek() == "(":  # conversion []byte("x")
                self.take()
                arg = self.parse_expr()
                self.take(")")
                return Call(typ, [arg])
            return self.parse_lit_body(typ)
        if kind == "str":
            self.take()
            value = parse_go_string(tok)
            return value
        if kind == "num":
            self.take()
            return (
                float(tok)
                if "." in tok or ("e" in tok.lower() and not tok.startswith("0x"))
                else int(tok, 0)
            )
        if kind == "rune":
            self.take()
            return ord(parse_go_string('"' + tok[1:-1] + '"'))
        if tok == "(":
            self.take()
            e = self.parse_expr()
            self.take(")")
            return self.postfix(e)
        if tok == "func":
            raise Unsupported("func literal")
        if kind == "id":
            name = self.take()
            while self.peek() == "." and self.kind(1) == "id":
                self.take()
                name += "." + self.take()
            return self.postfix(Ident(name))
        raise SyntaxError(f"unexpected {tok} near {self.context()}")

    def postfix(self, e: Any) -> Any:
        while True:
            tok = self.peek()
            if tok == "(":
                self.take()
                args = []
                while self.peek() != ")":
                    args.append(self.parse_expr())
                    if self.peek() == "...":
                        self.take()
                    if self.peek() == ",":
                        self.take()
                self.take(")")
                fn = e.name if isinstance(e, Ident) else repr(e)
                e = Call(fn, args)
            elif tok == "{" and isinstance(e, Ident) and (e.name[:1].isupper() or "." in e.name):
                e = self.parse_lit_body(e.name)
            elif tok == "." and isinstance(e, (Call, Lit)):
                self.take()
                attr = self.take()
                e = Call(f".{attr}", [e])
            elif tok == "[" and isinstance(e, (Ident, Call, Lit)):
                self.take()
                idx = self.parse_expr()
                self.take("]")
                e = Call("[]", [e, idx])
            else:
                return e

    def parse_lit_body(self, typ: str) -> Lit:
        self.take("{")
        items: list[tuple[Any, Any]] = []
        while self.peek() != "}":
            first = self.parse_expr()
            if self.peek() == ":":
                self.take()
                value = self.parse_expr()
                key = first.name if isinstance(first, Ident) else first
                items.append((key, value))
            else:
                items.append((None, first))
            if self.peek() == ",":
                self.take()
        self.take("}")
        return Lit(typ, items)


_ESC = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "0": "\0",
}


def parse_go_string(tok: str) -> str:
    if tok.startswith("`"):
        return tok[1:-1]
    body = tok[1:-1]
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            n = body[i + 1]
            if n == "x":
                out.append(chr(int(body[i + 2 : i + 4], 16)))
                i += 4
                continue
            if n == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            if n in "01234567" and i + 3 < len(body) + 1 and body[i + 1 : i + 4].isdigit():
                out.append(chr(int(body[i + 1 : i + 4], 8)))
                i += 4
                continue
            out.append(_ESC.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


# ---- evaluation into JSON-ish Python values ----

NS_PER = {
    "time.Nanosecond": 1,
    "time.Microsecond": 1000,
    "time.Millisecond": 1_000_000,
    "time.Second": 1_000_000_000,
    "time.Minute": 60_000_000_000,
    "time.Hour": 3_600_000_000_000,
}


@dataclass
class Duration:
    ns: int

    def text(self) -> str:
        sign = "-" if self.ns < 0 else ""
        ns = abs(self.ns)
        s, frac = divmod(ns, 1_000_000_000)
        if frac:
            f = f"{frac:09d}".rstrip("0")
            return f"{sign}{s}.{f}s"
        return f"{sign}{s}s"


def json_field(go: str) -> str:
    if go.endswith("_"):
        go = go[:-1]
    # Consecutive_5XxErrors -> consecutive5xxErrors
    go = re.sub(r"_(\d)X", lambda m: m.group(1) + "x", go)
    go = go.replace("_", "")
    # leading acronyms: "TLS" unlikely as a Go field; lower first rune only
    return go[:1].lower() + go[1:]


def enum_name(ident: str) -> str | None:
    if not ident.startswith(("networking.", "networkingv1beta1.", "api.")):
        return None
    name = ident.split(".", 1)[1]
    parts = name.split("_")
    for i, part in enumerate(parts):
        if (
            i > 0
            and part
            and (part.isupper() or part.isdigit())
            and re.fullmatch(r"[A-Z0-9]+", part)
        ):
            return "_".join(parts[i:])
    return None


class Env:
    def __init__(self, consts: dict[str, Any]) -> None:
        self.consts = consts

    def ev(self, e: Any) -> Any:
        if isinstance(e, (str, int, float, bool)) or e is None:
            return e
        if isinstance(e, Ident):
            n = e.name
            if n == "true":
                return True
            if n == "false":
                return False
            if n == "nil":
                return None
            if n in NS_PER:
                return NS_PER[n]
            if n in self.consts:
                return self.ev(self.consts[n])
            en = enum_name(n)
            if en is not None:
                return en
            if n in ("math.MaxUint32",):
                return 2**32 - 1
            if n in ("math.MaxInt32",):
                return 2**31 - 1
            raise Unsupported(f"ident {n}")
        if isinstance(e, Unary):
            v = self.ev(e.operand)
            if e.op == "-":
                if isinstance(v, Duration):
                    return Duration(-v.ns)
                return -v
            if e.op == "!":
                return not v
            if e.op == "&":
                return v
            return v
        if isinstance(e, Bin):
            a, b = self.ev(e.left), self.ev(e.right)
            if isinstance(a, Duration):
                a = a.ns
            if isinstance(b, Duration):
                b = b.ns
            if e.op == "*":
                if isinstance(a, str):
                    return a * b
                return a * b
            if e.op == "+":
                return a + b
            if e.op == "-":
                return a - b
            if e.op == "/":
                return a // b if isinstance(a, int) and isinstance(b, int) else a / b
            if e.op == "<<":
                return a << b
            raise Unsupported(f"op {e.op}")
        if isinstance(e, Call):
            return self.call(e)
        if isinstance(e, Lit):
            return self.lit(e)
        raise Unsupported(repr(e))

    def call(self, c: Call) -> Any:
        fn = c.fn
        args = [self.ev(a) for a in c.args] if fn not in ("func",) else []
        if fn == "durationpb.New":
            v = args[0]
            return Duration(v.ns if isinstance(v, Duration) else int(v))
        if fn in ("time.Duration",):
            return int(args[0])
        if fn in (
            "wrapperspb.UInt32",
            "wrapperspb.Bool",
            "wrapperspb.Int32",
            "wrapperspb.UInt64",
            "wrapperspb.Double",
            "wrapperspb.String",
            "wrapperspb.Int64",
            "wrapperspb.Float",
        ):
            return args[0]
        if fn in ("uint32", "int32", "int", "int64", "uint64", "float64", "float32", "string"):
            return args[0]
        if fn == "[]byte":
            return {"__bytes__": args[0]}
        if fn == "strings.Repeat":
            return args[0] * args[1]
        if fn == "fmt.Sprintf":
            fmt = args[0]
            return go_sprintf(fmt, args[1:])
        if fn == "strings.Join":
            return args[1].join(args[0])
        if fn == "errors.New":
            return {"__error__": args[0]}
        if fn == "ptr.Of":
            return args[0]
        raise Unsupported(f"call {fn}")

    def lit(self, lit: Lit) -> Any:
        typ = lit.type.lstrip("&*")
        if typ.startswith("[]") or typ == "":
            # slices, or an elided struct type (we cannot tell: keyed -> dict)
            if typ == "" and lit.items and lit.items[0][0] is not None:
                return self.struct(lit, "")
            elem = typ[2:].lstrip("*&")
            structs = "." in elem and not elem.startswith(("[]", "map["))
            vals = []
            for _, v in lit.items:
                if structs and isinstance(v, Lit) and v.type == "":
                    vals.append(self.struct(v, elem))
                else:
                    vals.append(self.ev(v))
            return vals
        if typ.startswith("map["):
            out = {}
            for k, v in lit.items:
                key = self.ev(k)
                out[key] = self.ev(v)
            return out
        if typ in ("durationpb.Duration",):
            d = {json_field(k): self.ev(v) for k, v in lit.items}
            return Duration(d.get("seconds", 0) * 1_000_000_000 + d.get("nanos", 0))
        if typ.startswith("wrapperspb.") or typ.startswith("wrappers."):
            d = {k: self.ev(v) for k, v in lit.items}
            return d.get("Value", 0 if "Bool" not in typ else False)
        return self.struct(lit, typ)

    def struct(self, lit: Lit, typ: str) -> Any:
        out: dict[str, Any] = {}
        for k, v in lit.items:
            if k is None:
                raise Unsupported(f"positional struct {typ}")
            value = self.ev(v)
            # oneof wrapper: X_Field{Field: v}
            if isinstance(v, Lit):
                vt = v.type.lstrip("&*")
                suffix = vt.rsplit(".", 1)[-1]
                if len(v.items) == 1 and v.items[0][0] is not None and "_" in suffix:
                    inner = v.items[0][0]
                    if (
                        suffix.endswith("_" + inner)
                        or suffix.endswith("_" + inner.rstrip("_") + "_")
                        or suffix.endswith(inner)
                    ):
                        inner_val = self.ev(v.items[0][1])
                        out[json_field(inner)] = inner_val
                        continue
            if value is None:
                continue
            out[json_field(k)] = value
        return out


def go_sprintf(fmt: str, args: list[Any]) -> str:
    it = iter(args)

    def rep(m: re.Match[str]) -> str:
        if m.group() == "%%":
            return "%"
        return str(next(it))

    return re.sub(r"%%|%[-+# 0]*\d*(?:\.\d+)?[a-zA-Z]", rep, fmt)


def _repeat(text: str, b64: bool) -> Any:
    if len(text) > 2000 and len(set(text)) == 1:
        out = {"text": text[0], "times": len(text)}
        if b64:
            out["base64"] = True
        return {"$repeat": out}
    return base64.b64encode(text.encode("latin-1")).decode() if b64 else text


def to_json(v: Any) -> Any:
    if isinstance(v, str):
        return _repeat(v, False)
    if isinstance(v, Duration):
        return v.text()
    if isinstance(v, dict):
        if "__bytes__" in v and len(v) == 1:
            return _repeat(v["__bytes__"], True)
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_json(x) for x in v]
    return v


@dataclass
class Table:
    func: str
    fields: list[str]
    rows: list[Any] = field(default_factory=list)  # Lit per row, or Exception


def find_tables(src: str) -> dict[str, Table]:
    tables: dict[str, Table] = {}
    for m in re.finditer(r"^func (Test\w+)\(t \*testing\.T\) \{\n", src, re.M):
        start = m.end()
        end = src.find("\n}\n", start)
        body = src[start:end]
        s = re.search(r"\w+\s*:?=\s*\[\]struct\s*\{(.*?)\n\t\}\{", body, re.S)
        if not s:
            continue
        fields = []
        for line in s.group(1).split("\n"):
            line = line.split("//")[0].strip()
            if not line:
                continue
            names, _, _ = line.partition(" ")
            for n in names.split(","):
                if n.strip():
                    fields.append(n.strip())
        toks = tokenize(body[s.end() - 1 :])
        p = Parser(toks)
        p.take("{")
        table = Table(m.group(1), fields)
        while p.peek() != "}":
            start_p = p.p
            try:
                row = p.parse_expr()
                table.rows.append(row)
            except (SyntaxError, Unsupported, IndexError) as exc:
                # skip to the end of this row
                p.p = start_p
                depth = 0
                while True:
                    t = p.take()
                    if t in "{([":
                        depth += 1
                    elif t in "})]":
                        depth -= 1
                    if depth == 0:
                        break
                table.rows.append(exc)
            if p.peek() == ",":
                p.take()
        tables[table.func] = table
    return tables
