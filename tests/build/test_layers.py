"""The include graph of src/ (and of the Python extension) against the
layer order declared once, in src/LAYERS: no file includes a header of a
higher floor, an island includes only what it may and is included by no
one, and no files include each other, directly or round a circle."""

import pathlib
import re

from build_support import ROOT

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
BELOW_ALL = {"mida.h", "mida_config.h"}


def read_layers(path=None):
    """{folder: floor number}, {island: set of floors it may include}; the
    private headers are in read_layers.private."""
    path = path or ROOT / "src" / "LAYERS"
    floors, islands = {}, {}
    read_layers.private = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("private "):
            read_layers.private.add(line[len("private "):].strip())
            continue
        if line.startswith("island "):
            name, allowed = line[len("island "):].split(":", 1)
            islands[name.strip()] = set(allowed.split())
            continue
        level = len(set(floors.values()))
        for folder in line.split():
            floors[folder] = level
    return floors, islands


def folder_dir(folder):
    return ROOT / "python" / "mida" if folder == "python" else \
        ROOT / "src" / folder


def sources(floors, islands):
    """(folder, path) of every C source and header of the tree's floors."""
    for folder in list(floors) + list(islands):
        d = folder_dir(folder)
        for path in sorted(d.glob("*.[ch]")) if d.is_dir() else ():
            yield folder, path


def target(folder, path, name):
    """(folder, path) an include names, or None for one outside the floors
    (system, tests/, generated)."""
    if "/" in name:
        first, rest = name.split("/", 1)
        p = ROOT / "src" / name
        return (first, p) if p.exists() else None
    p = path.parent / name  # "value.h" beside the file
    return (folder, p) if p.exists() else None


def graph():
    floors, islands = read_layers()
    edges = {}
    problems = []
    for folder, path in sources(floors, islands):
        rel = path.relative_to(ROOT)
        for name in INCLUDE.findall(path.read_text()):
            if name in BELOW_ALL:
                continue
            t = target(folder, path, name)
            if t is None:
                first = name.split("/", 1)[0]
                if "/" in name and first not in ("tests",):
                    problems.append(f"{rel}: includes {name}, which is not "
                                    "in the tree")
                continue
            tfolder, tpath = t
            edges.setdefault(rel, set()).add(tpath.relative_to(ROOT))
            if tfolder == folder:
                continue
            if name in read_layers.private:
                problems.append(f"{rel}: includes {name}, which is private "
                                f"to src/{tfolder}")
            if tfolder not in floors and tfolder not in islands:
                problems.append(f"{rel}: includes {name}: src/{tfolder} is "
                                "on no floor of src/LAYERS")
            elif tfolder in islands:
                problems.append(f"{rel}: includes {name} of the island "
                                f"{tfolder}")
            elif folder in islands:
                if tfolder not in islands[folder]:
                    problems.append(f"{rel}: the island {folder} may not "
                                    f"include {name}")
            elif floors[tfolder] > floors[folder]:
                problems.append(f"{rel}: includes {name} of a higher floor "
                                f"({tfolder} above {folder})")
    return floors, islands, edges, problems


def cycles(edges):
    """Every circle of includes, as a list of paths (Tarjan's strongly
    connected components; a component of more than one file is a
    circle)."""
    index, low, on, stack, out = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges.get(v, ()):
                out.append(sorted(str(p) for p in comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def test_every_folder_of_src_is_on_a_floor():
    floors, islands = read_layers()
    for d in sorted((ROOT / "src").iterdir()):
        if d.is_dir():
            assert d.name in floors or d.name in islands, \
                f"src/{d.name} is on no floor: add it to src/LAYERS"


def test_no_file_includes_a_higher_floor():
    _, _, _, problems = graph()
    assert problems == [], "\n".join(problems)


def test_no_files_include_each_other():
    _, _, edges, _ = graph()
    assert cycles(edges) == []


def test_the_check_sees_what_it_forbids(tmp_path):
    """The checker itself: a made-up tree with a file that includes a
    higher floor, an island that reaches too far, a private header included
    from outside, and two headers that include each other, is caught on
    each count."""
    global ROOT
    saved = ROOT
    try:
        ROOT = tmp_path
        for folder, text in {
                "core": '#include "api/a.h"\n',
                "api": '#include "core/c.h"\n',
                "preload": '#include "api/a.h"\n'}.items():
            (tmp_path / "src" / folder).mkdir(parents=True)
        (tmp_path / "src" / "core" / "c.h").write_text(
            '#include "api/a.h"\n')
        (tmp_path / "src" / "api" / "a.h").write_text(
            '#include "core/c.h"\n')
        (tmp_path / "src" / "preload" / "p.c").write_text(
            '#include "api/a.h"\n#include "core/c.h"\n')
        (tmp_path / "src" / "api" / "p.h").write_text("")
        (tmp_path / "src" / "api" / "ok.c").write_text('#include "api/p.h"\n')
        (tmp_path / "src" / "core" / "bad.c").write_text(
            '#include "api/p.h"\n')
        (tmp_path / "src" / "LAYERS").write_text(
            "core\napi\nisland preload: core\nprivate api/p.h\n")
        _, _, edges, problems = graph()
        assert any("higher floor" in p for p in problems), problems
        assert any("island preload may not include api/a.h" in p
                   for p in problems), problems
        assert any(p.startswith("src/core/bad.c: includes api/p.h, which is "
                                "private") for p in problems), problems
        assert not any(p.startswith("src/api/ok.c") for p in problems)
        assert cycles(edges) == [["src/api/a.h", "src/core/c.h"]]
    finally:
        ROOT = saved
