"""The page's scripts and style sheets lose their comments and indentation, and nothing else."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from coachiq.web import WEB_DIR, load_files
from coachiq.web.trim import trim_css, trim_js

TRICKY = """// a comment line
const url = "http://coach/*not a comment*/"; // trailing comment
const re = /\\/\\/[a-z/]+/g, half = 6 / 2 / 1;
  /** a doc comment */
  const text = `line one
    // kept: inside a template
  ${items.map((i) => `<${i}>`).join("")}   indented end`;
function f(a) {
  return /^x{2}$/.test(a) ? 'it\\'s /* fine */' : a;
}
"""


def test_comments_and_indentation_go_strings_templates_and_regexes_stay() -> None:
    out = trim_js(TRICKY)
    assert "a comment line" not in out and "trailing comment" not in out and "doc comment" not in out
    assert '"http://coach/*not a comment*/"' in out
    assert "/\\/\\/[a-z/]+/g, half = 6 / 2 / 1;" in out
    template = "`line one\n    // kept: inside a template\n  ${items.map((i) => `<${i}>`).join(\"\")}   indented end`"
    assert template in out
    assert "return /^x{2}$/.test(a) ? 'it\\'s /* fine */' : a;" in out
    assert "\n  " not in out.replace("\n    // kept", "").replace("\n  ${items", "")
    assert trim_js(out) == out


def test_css_comments_go() -> None:
    assert trim_css("/* head */\n.a {\n  color: red; /* why */\n}\n") == ".a {\ncolor: red;\n}\n"


def test_unterminated_input_is_refused() -> None:
    for bad in ("const a = `open", "/* open", "const s = 'open\n'"):
        with pytest.raises(ValueError):
            trim_js(bad)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_every_served_script_still_parses(tmp_path: Path) -> None:
    files = load_files(WEB_DIR)
    for path in sorted(WEB_DIR.glob("*.js")):
        served = files["/" + path.name].body
        assert len(served) < path.stat().st_size
        copy = tmp_path / f"{path.stem}.mjs"
        copy.write_bytes(served)
        result = subprocess.run(["node", "--check", str(copy)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"{path.name}: {result.stderr}"
