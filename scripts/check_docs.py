"""Check the markdown docs: every relative link and anchor resolves, every page is reachable.

The docs are plain markdown read on GitHub (or any viewer), so this is their build:
README.md and docs/**/*.md are parsed with markdown-it (CommonMark + tables, as GitHub
renders them), headings become GitHub's anchors, and every link to a file in the
repository must name an existing file and, with ``#anchor``, an existing heading.
Every page under docs/ must be reachable by links from README.md. External URLs are
not fetched (no network in tests). Exit 1 with one line per problem.

    python scripts/check_docs.py [ROOT]
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections import deque
from pathlib import Path
from urllib.parse import unquote

from markdown_it import MarkdownIt

EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...
HTML_ID = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""")
HTML_HREF = re.compile(r"""\bhref\s*=\s*["']([^"']+)["']""")


def slugify(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = text.strip().lower()
    kept = "".join(
        ch
        for ch in text
        if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N") or ch in "\u200d"
    )
    return kept.replace(" ", "-")


class Page:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.anchors: set[str] = set()
        self.links: list[tuple[int, str]] = []  # (line, target)
        md = MarkdownIt("commonmark").enable("table")
        tokens = md.parse(path.read_text(encoding="utf-8"))
        seen: dict[str, int] = {}
        for i, tok in enumerate(tokens):
            if tok.type == "heading_open":
                slug = slugify(_plain(tokens[i + 1]))
                n = seen.get(slug, 0)
                seen[slug] = n + 1
                self.anchors.add(slug if n == 0 else f"{slug}-{n}")
            if tok.type in ("html_block", "html_inline"):
                self.anchors.update(HTML_ID.findall(tok.content))
                line = tok.map[0] + 1 if tok.map else 0
                self.links += [(line, href) for href in HTML_HREF.findall(tok.content)]
            if tok.type == "inline":
                line = tok.map[0] + 1 if tok.map else 0
                for child in tok.children or []:
                    if child.type in ("html_inline",):
                        self.anchors.update(HTML_ID.findall(child.content))
                        self.links += [(line, h) for h in HTML_HREF.findall(child.content)]
                    href = child.attrGet("href") if child.type == "link_open" else None
                    src = child.attrGet("src") if child.type == "image" else None
                    for target in (href, src):
                        if target:
                            self.links.append((line, str(target)))


def _plain(inline) -> str:
    return "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))


def check(root: Path) -> list[str]:
    root = root.resolve()
    files = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    pages = {p.resolve(): Page(p) for p in files if p.is_file()}
    problems: list[str] = []
    edges: dict[Path, set[Path]] = {p: set() for p in pages}
    for path, page in pages.items():
        where = path.relative_to(root)
        for line, target in page.links:
            if EXTERNAL.match(target):
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / unquote(file_part)).resolve() if file_part else path
            label = f"{where}:{line}: {target}"
            if root not in dest.parents and dest != root:
                problems.append(f"{label}: points outside the repository")
                continue
            if not dest.exists():
                problems.append(f"{label}: no such file")
                continue
            if dest in pages:
                edges[path].add(dest)
            if anchor:
                if dest.suffix != ".md" or dest not in pages:
                    problems.append(f"{label}: anchor on a file that is not a checked page")
                elif unquote(anchor) not in pages[dest].anchors:
                    problems.append(f"{label}: no heading with anchor #{anchor}")
    reachable = _reachable(root / "README.md", edges)
    for path in pages:
        if path not in reachable:
            problems.append(f"{path.relative_to(root)}: not linked from README.md or its pages")
    return problems


def _reachable(start: Path, edges: dict[Path, set[Path]]) -> set[Path]:
    start = start.resolve()
    seen, todo = {start}, deque([start])
    while todo:
        for nxt in edges.get(todo.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    problems = check(root)
    for problem in problems:
        print(problem)
    print(f"docs: {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
