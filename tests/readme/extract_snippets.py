#!/usr/bin/env python3
"""Turns every ```cpp block of README.md into C++ that the readme_snippets test compiles and runs.

    extract_snippets.py README.md out.cpp

Each ```cpp block becomes the body of a function; main() runs them in order and exits 1 when one
throws. The README's code is compiled exactly as written; nothing is added to it except what
its markers ask for. `#line` directives point compiler errors at README.md's own lines.

Markers: an HTML comment on the line (or lines) right before the opening fence, invisible on
GitHub; several options may be given in one marker, separated by commas:

    <!-- snippet: continues -->     the block continues the previous block: it is compiled as a
                                    nested { } block at the end of the previous block's code, so
                                    it sees that block's variables (opt, ema, ...) and may declare
                                    names of its own, even ones already used above.
    <!-- snippet: compile-only -->  compiled, not run (for code that needs a GPU, for example).
                                    It applies to the whole chain of blocks that continue one
                                    another: none of them runs.

`#include` lines of any block are moved to the top of the file (they cannot stand inside a
function). Everything else, `namespace fo = fusedopt;` included, stays where it is, so a block
that does not continue another must declare what it uses. An unknown marker option, a marker not
followed by a ```cpp block, or a first block marked `continues` is an error.

Other fences (```sh, ```text, ...) are ignored. The snippets run on the CPU: use host memory and
fo::Device::cpu(). The test runs in the build tree, so files they write stay there.
"""
import re
import sys

FENCE_CPP = re.compile(r"^```(cpp|c\+\+)\s*$")
FENCE_ANY = re.compile(r"^```")
MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(.*?)\s*-->\s*$")
INCLUDE = re.compile(r"^\s*#\s*include\b")
OPTIONS = {"continues", "compile-only"}


def fail(readme, line, message):
    sys.exit(f"{readme}:{line}: extract_snippets.py: {message}")


def parse(readme):
    """Returns the cpp blocks: dicts with the fence's line, the body's lines and the options."""
    with open(readme, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks, pending, pending_line, i = [], set(), None, 0
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line)
        if marker:
            options = {o.strip() for o in marker.group(1).split(",") if o.strip()}
            unknown = options - OPTIONS
            if unknown:
                fail(readme, i + 1, f"unknown snippet option(s) {sorted(unknown)}; known: {sorted(OPTIONS)}")
            pending |= options
            pending_line = pending_line or i + 1
            i += 1
            continue
        if FENCE_ANY.match(line):
            is_cpp = FENCE_CPP.match(line)
            if pending_line and not is_cpp:
                fail(readme, pending_line, "a snippet marker must come right before a ```cpp block")
            start = i + 1
            i += 1
            while i < len(lines) and not FENCE_ANY.match(lines[i]):
                i += 1
            if i == len(lines):
                fail(readme, start, "unterminated code block")
            if is_cpp:
                blocks.append({"line": start, "body": lines[start:i], "options": pending})
            pending, pending_line = set(), None
            i += 1
            continue
        if pending_line:
            fail(readme, pending_line, "a snippet marker must come right before a ```cpp block")
        i += 1
    if pending_line:
        fail(readme, pending_line, "a snippet marker must come right before a ```cpp block")
    if not blocks:
        fail(readme, 1, "no ```cpp blocks found")
    if "continues" in blocks[0]["options"]:
        fail(readme, blocks[0]["line"], "the first ```cpp block cannot continue another")
    return blocks


def generate(readme, blocks):
    path = readme.replace("\\", "\\\\").replace('"', '\\"')
    includes, functions, runs = [], [], []
    for n, block in enumerate(blocks, 1):
        first = block["line"] + 1  # README line of the block's first line of code
        body = []
        for k, text in enumerate(block["body"]):
            if INCLUDE.match(text):
                includes += [f'#line {first + k} "{path}"', text]
                body.append("")  # keeps the #line mapping of the lines after it
            else:
                body.append(text)
        where = f'readme_where = "README.md:{first}";'
        code = [f'#line {first} "{path}"'] + body
        if "continues" in block["options"]:
            fn = functions[-1]
            fn["code"] += ["{  " + where] + code
            fn["depth"] += 1
            fn["run"] = fn["run"] and "compile-only" not in block["options"]
            fn["lines"].append(first)
        else:
            functions.append({"name": f"readme_snippet_{n}", "code": ["  " + where] + code, "depth": 0,
                              "run": "compile-only" not in block["options"], "lines": [first]})
    out = ["// Generated from README.md by tests/readme/extract_snippets.py: do not edit.",
           "#include <chrono>", "#include <cstdio>", "#include <exception>"]
    out += includes
    out += ["", "static const char* readme_where = \"\";  // the block that runs now", ""]
    for fn in functions:
        out.append(f"[[maybe_unused]] static void {fn['name']}() {{")
        out += fn["code"]
        out.append("}" * (fn["depth"] + 1))
        out.append("")
    out += ["int main() {",
            "  struct Snippet { const char* where; void (*run)(); };",
            "  const Snippet snippets[] = {"]
    for fn in functions:
        where = "README.md:" + ",".join(str(l) for l in fn["lines"])
        if fn["run"]:
            out.append(f'    {{"{where}", {fn["name"]}}},')
        else:
            out.append(f'    {{"{where} (compile-only)", nullptr}},')
    out += ["  };",
            "  for (const Snippet& s : snippets) {",
            "    if (!s.run) { std::printf(\"%s: compiled, not run\\n\", s.where); continue; }",
            "    const auto t0 = std::chrono::steady_clock::now();",
            "    try {",
            "      s.run();",
            "    } catch (const std::exception& e) {",
            "      std::fprintf(stderr, \"%s: the snippet threw: %s\\n\", readme_where, e.what());",
            "      return 1;",
            "    } catch (...) {",
            "      std::fprintf(stderr, \"%s: the snippet threw a non-std exception\\n\", readme_where);",
            "      return 1;",
            "    }",
            "    const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - t0;",
            "    std::printf(\"%s: ran (%.1f ms)\\n\", s.where, ms.count());",
            "  }",
            "  return 0;",
            "}",
            ""]
    return "\n".join(out)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: extract_snippets.py README.md out.cpp")
    readme, output = sys.argv[1], sys.argv[2]
    text = generate(readme, parse(readme))
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
