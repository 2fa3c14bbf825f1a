"""The house layout: a handful of concept files on top, the rest one folder down, no import circle,
short files and lines. (What a first-time reader sees first is the top level.)"""
import ast
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("checkers", "engines", "plumbing")
TOP = {"hir", "rollout", "constraints", "replay", "train", "eval", "config", "data", "models"}


def project_files():
    return sorted(p for p in ROOT.rglob("*.py") if not {".venv", ".git", "runs"} & set(p.relative_to(ROOT).parts))


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path, known):
    """Project modules `path` imports, at the top or inside a function (a lazy import counts too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found |= {n for n in names if n in known}
    return found


def test_the_top_level_holds_the_design_cards_files():
    top = {p.stem for p in ROOT.glob("*.py")}
    assert top == TOP and len(top) <= 10
    for package in PACKAGES:
        assert (ROOT / package / "__init__.py").exists(), package


def test_no_import_circle():
    sources = [p for p in project_files() if "tests" not in p.relative_to(ROOT).parts and
               p.relative_to(ROOT).parts[0] != "bench"]
    graph = {module_name(p): p for p in sources}
    edges = {m: imports(p, graph) - {m} for m, p in graph.items()}  # a package importing its own modules is fine

    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen
    circles = sorted(m for m in edges if m in reach(m))
    assert not circles, f"modules on an import circle: {circles}"
    assert "rollout" not in reach("engines.fast") and "rollout" not in reach("engines.continuous")


def test_files_and_lines_are_short():
    long_files = [str(p) for p in project_files() if len(p.read_text().splitlines()) >= 400]
    assert not long_files
    long_lines = [f"{p.relative_to(ROOT)}:{i}" for p in project_files()
                  for i, line in enumerate(p.read_text().splitlines(), 1) if len(line) > 120]
    assert len(long_lines) <= 10, long_lines


def test_shell_scripts_parse_and_keep_short_lines():
    for script in sorted((ROOT / "bench").glob("*.sh")) + [ROOT / ".ci" / "run"]:
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{script}: {done.stderr}"
        assert all(len(line) <= 120 for line in script.read_text().splitlines()), script
