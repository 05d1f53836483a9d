"""Smaller JavaScript and CSS on the wire: comments and indentation dropped when the file is loaded."""

from __future__ import annotations

# After one of these (or at the start), a "/" begins a regular expression rather than a division.
_REGEX_AFTER = set("(,=:[!&|?{};+-*%<>~^")
_REGEX_KEYWORDS = {"return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do",
                   "else", "yield", "await"}


def _lines_out(out: list[str], line_start_in_code: list[bool]) -> str:
    kept = []
    for line, in_code in zip("".join(out).split("\n"), line_start_in_code, strict=True):
        if in_code:
            line = line.strip()
            if not line:
                continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def trim_js(text: str) -> str:
    """`text` without comments, indentation and blank lines; strings, templates and regexes untouched."""
    out: list[str] = []
    starts = [True]  # per output line: whether it starts in code (so its indentation may go)
    braces: list[int] = []  # for each open "${", the brace depth inside it
    i, n = 0, len(text)
    last = ""  # last significant code character, or a keyword
    word = ""

    def emit(s: str, in_code: bool) -> None:
        for ch in s:
            out.append(ch)
            if ch == "\n":
                starts.append(in_code)

    def template(i: int) -> int:
        # i is just after a backtick (or after the "}" closing a "${"): copy up to the end or a "${".
        while i < n:
            ch = text[i]
            if ch == "\\":
                emit(text[i:i + 2], False)
                i += 2
            elif ch == "`":
                emit("`", True)
                return i + 1
            elif ch == "$" and text.startswith("${", i):
                emit("${", True)
                braces.append(0)
                return i + 2
            else:
                emit(ch, False)
                i += 1
        raise ValueError("unterminated template")

    while i < n:
        ch = text[i]
        if ch == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated comment")
            emit("\n" if "\n" in text[i:end] else " ", True)
            i = end + 2
            continue
        if ch in "'\"":
            j = i + 1
            while j < n and text[j] != ch:
                if text[j] == "\n":
                    raise ValueError("unterminated string")
                j += 2 if text[j] == "\\" else 1
            emit(text[i:j + 1], True)
            i, last, word = j + 1, ch, ""
            continue
        if ch == "`":
            emit("`", True)
            i = template(i + 1)
            last, word = "`", ""
            continue
        if ch == "/" and (last in _REGEX_AFTER or last in _REGEX_KEYWORDS or last == ""):
            j, in_class = i + 1, False
            while j < n:
                c = text[j]
                if c == "\n":
                    raise ValueError("unterminated regex")
                if c == "\\":
                    j += 2
                    continue
                if c == "[":
                    in_class = True
                elif c == "]":
                    in_class = False
                elif c == "/" and not in_class:
                    break
                j += 1
            emit(text[i:j + 1], True)
            i, last, word = j + 1, "/re", ""
            continue
        if braces and ch == "{":
            braces[-1] += 1
        elif braces and ch == "}":
            if braces[-1] == 0:
                braces.pop()
                emit("}", False)
                i = template(i + 1)
                last, word = "`", ""
                continue
            braces[-1] -= 1
        emit(ch, True)
        i += 1
        if ch.isalnum() or ch in "_$":
            word += ch
            last = word
        elif not ch.isspace():
            last, word = ch, ""
        else:
            word = ""
    return _lines_out(out, starts)


def trim_css(text: str) -> str:
    """`text` without comments, indentation and blank lines (the page's CSS has no multi-line strings)."""
    out: list[str] = []
    i = 0
    while True:
        start = text.find("/*", i)
        if start < 0:
            out.append(text[i:])
            break
        end = text.find("*/", start + 2)
        if end < 0:
            raise ValueError("unterminated comment")
        out.append(text[i:start])
        i = end + 2
    return "\n".join(line.strip() for line in "".join(out).split("\n") if line.strip()) + "\n"
