"""The package's layout (issue 13): no module imports one above it, no private name crosses a module.

Three rules, read off the code by ``ast`` (module-level and function-local imports alike):

(a) **Layers.** ``LAYERS`` lists the modules of ``advnotes`` from low to high (CONTRIBUTING.md draws the
    map); a module may import only from a strictly lower layer. ``advnotes.claims`` (its ``__init__``) uses
    layers <= 1 only; ``advnotes.claims.chN`` may import anything below the claims (and ``advnotes.claims``
    itself); ``advnotes.chapters.chN`` is the top and may import everything.
(b) **Private names stay home.** No name with a leading underscore defined in one advnotes module is used
    by another module, a chapter notebook in ``_toc.yml``, a benchmark, a script or a test:
    ``from advnotes.x import _y``, ``x._y`` on a name bound to an advnotes module, ``advnotes.x._y``,
    and the string ``"advnotes.x._y"`` (monkeypatch targets). Dunder names (``__version__``) are public.
(c) ``curvature`` (input curvature) imports nothing from ``param_hessian``.

Each checker is a plain function of a folder, so the tests below also plant violations in ``tmp_path``
and check that they are found.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "advnotes"

#: Layer of each top-level module of advnotes (common.md, issue 13), low to high.
LAYERS = {
    "validation": 0,
    "stats": 1,
    "tables": 1,
    "config": 1,
    "krylov": 1,
    "data": 2,
    "models": 2,
    "linear_regions": 3,
    "curvature": 4,
    "attacks": 5,
    "threat": 6,
    "training": 6,
    "settings": 7,
    "operators": 7,
    "theory": 8,
    "influence": 9,
    "param_hessian": 10,
    "claims": 11,
    "chapters": 12,
}
#: ``advnotes.claims`` (the package's ``__init__``: specs, intervals, tables) sits on these layers only.
CLAIMS_INIT_MAX = 1


def module_name(path: Path, package_dir: Path) -> str:
    """Dotted name of the module at ``path`` inside the package folder ``package_dir``."""
    rel = path.relative_to(package_dir.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str | None:
    """Absolute dotted name of a ``from ... import`` statement's module (None for an unresolvable one)."""
    if node.level == 0:
        return node.module
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    if not base:
        return None
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(
    tree: ast.AST, module: str, is_package: bool, root: str, known: frozenset = frozenset()
) -> list[tuple[int, str]]:
    """(line, dotted name) of every module of package ``root`` imported anywhere in ``tree``.

    ``from advnotes import x`` counts as importing ``advnotes.x``, and so does ``from advnotes.claims
    import ch1`` when ``advnotes.claims.ch1`` is in ``known``; other names (``from advnotes.attacks
    import fgsm``) count as their module.
    """
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == root or alias.name.startswith(root + "."):
                    found.append((node.lineno, alias.name))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, is_package)
            if target is None or not (target == root or target.startswith(root + ".")):
                continue
            if target == root:  # from advnotes import x, y
                found.extend((node.lineno, f"{root}.{alias.name}") for alias in node.names)
            else:
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.append((node.lineno, sub if sub in known else target))
    return found


def layer_of(dotted: str, layers: dict[str, int], root: str) -> int | None:
    """Layer of the module ``dotted`` (None for the package root and unknown names)."""
    parts = dotted.split(".")
    if len(parts) < 2 or parts[0] != root:
        return None
    return layers.get(parts[1])


def layer_violations(package_dir: Path, layers: dict[str, int] = LAYERS) -> list[str]:
    """Every import in ``package_dir`` that breaks the layer rule (a), as readable lines."""
    root = package_dir.name
    bad = []
    known = frozenset(module_name(p, package_dir) for p in package_dir.rglob("*.py"))
    for path in sorted(package_dir.rglob("*.py")):
        name = module_name(path, package_dir)
        parts = name.split(".")
        if len(parts) < 2:  # the package's own __init__ imports nothing of its own
            own = -1
        else:
            own = layers.get(parts[1])
            if own is None:
                bad.append(f"{name}: not in LAYERS (add it to the map, CONTRIBUTING.md and this test)")
                continue
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, target in imported_modules(tree, name, is_package, root, known):
            tparts = target.split(".")
            if len(tparts) >= 2 and len(parts) >= 2 and tparts[1] == parts[1]:
                # inside one subpackage: claims.chN may use advnotes.claims; chapters likewise
                if name == f"{root}.claims" and target != name:
                    bad.append(f"{name}:{line} imports {target} (claims/__init__ uses layers <= {CLAIMS_INIT_MAX})")
                elif len(parts) > 2 and len(tparts) > 2 and tparts[2] != parts[2]:
                    bad.append(f"{name}:{line} imports {target} (two modules of one layer)")
                continue
            level = layer_of(target, layers, root)
            if level is None:
                if target != root:
                    bad.append(f"{name}:{line} imports {target}, which is not in LAYERS")
                continue
            limit = CLAIMS_INIT_MAX + 1 if name == f"{root}.claims" else own
            if level >= limit:
                bad.append(f"{name}:{line} (layer {own}) imports {target} (layer {level})")
    return bad


# --------------------------------------------------------------------------------------------------
# (b) private names


def _module_aliases(tree: ast.AST, module: str, is_package: bool, root: str) -> dict[str, str]:
    """Local names bound to modules of ``root`` (``import advnotes.x as a``, ``from advnotes import x``)."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == root or alias.name.startswith(root + "."):
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, is_package)
            if target is None or not (target == root or target.startswith(root + ".")):
                continue
            for alias in node.names:
                # `from advnotes import attacks` or `from advnotes.claims import ch1`: a module, maybe
                aliases[alias.asname or alias.name] = f"{target}.{alias.name}"
    return aliases


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"] (None when the chain does not start at a plain name)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(
    source: str, *, where: str, module: str = "", is_package: bool = False, root: str = "advnotes"
) -> list[str]:
    """Uses in ``source`` of a private name of an advnotes module other than ``module`` itself."""
    tree = ast.parse(source)
    bad = []

    def other(target: str) -> bool:
        return target != module

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, is_package) if module else (node.module if node.level == 0 else None)
            if target is None or not (target == root or target.startswith(root + ".")):
                continue
            for alias in node.names:
                if _is_private(alias.name) and other(f"{target}.{alias.name}") and other(target):
                    bad.append(f"{where}:{node.lineno} imports {target}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == root and any(_is_private(p) for p in parts[1:]) and other(alias.name):
                    bad.append(f"{where}:{node.lineno} imports {alias.name}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text.startswith(root + ".") and " " not in text:
                parts = text.split(".")
                for i in range(1, len(parts)):
                    if _is_private(parts[i]) and other(".".join(parts[:i])):
                        bad.append(f"{where}:{node.lineno} names {text}")
                        break
    aliases = _module_aliases(tree, module, is_package, root) if module else _module_aliases(tree, "", False, root)
    for node in ast.walk(tree):  # monkeypatch.setattr(module, "_name", ...), mock.patch.object(module, "_name")
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        target, attr = node.args[0], node.args[1]
        if called in ("setattr", "getattr", "delattr", "hasattr", "object") and isinstance(target, ast.Name):
            if target.id in aliases and isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                owner = aliases[target.id]
                if _is_private(attr.value) and other(owner):
                    bad.append(f"{where}:{node.lineno} {called}s {owner}.{attr.value}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not _is_private(node.attr):
            continue
        chain = _dotted(node.value)
        if not chain or chain[0] not in aliases:
            continue
        owner = ".".join([aliases[chain[0]], *chain[1:]])
        if owner.split(".")[0] == root and other(owner):
            bad.append(f"{where}:{node.lineno} uses {owner}.{node.attr}")
    return bad


def python_files(root: Path) -> list[Path]:
    """The project's own .py files outside the package: tests, benchmarks, scripts, the book's extensions."""
    files = []
    for folder in ("tests", "benchmarks", "scripts", "book"):
        files += [p for p in sorted((root / folder).rglob("*.py")) if ".venv" not in p.parts]
    return files


def toc_notebooks(root: Path) -> list[Path]:
    """The notebooks the book's ``_toc.yml`` lists."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    found = []

    def walk(entry):
        if isinstance(entry, dict):
            if "file" in entry:
                path = root / (entry["file"] + ".ipynb")
                if path.exists():
                    found.append(path)
            for value in entry.values():
                walk(value)
        elif isinstance(entry, list):
            for value in entry:
                walk(value)

    walk(toc)
    return found


def notebook_source(path: Path) -> str:
    """The code cells of a notebook as one Python text (IPython magics and shell lines blanked)."""
    cells = json.loads(path.read_text())["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for line in source.splitlines():
            stripped = line.lstrip()
            lines.append("" if stripped.startswith(("%", "!")) else line)
        lines.append("")
    return "\n".join(lines)


def all_private_uses(root: Path, package_dir: Path) -> list[str]:
    """Rule (b) over the package, tests, benchmarks, scripts and the notebooks in ``_toc.yml``."""
    bad = []
    for path in sorted(package_dir.rglob("*.py")):
        bad += private_uses(
            path.read_text(),
            where=str(path.relative_to(root)),
            module=module_name(path, package_dir),
            is_package=path.name == "__init__.py",
            root=package_dir.name,
        )
    for path in python_files(root):
        bad += private_uses(path.read_text(), where=str(path.relative_to(root)), root=package_dir.name)
    for path in toc_notebooks(root):
        bad += private_uses(notebook_source(path), where=str(path.relative_to(root)), root=package_dir.name)
    return bad


# --------------------------------------------------------------------------------------------------
# the rules on the project


def test_no_module_imports_one_above_it():
    bad = layer_violations(PACKAGE)
    assert not bad, "layer rule broken (see CONTRIBUTING.md):\n" + "\n".join(bad)


def test_every_module_has_a_layer():
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert names <= set(LAYERS), f"modules without a layer: {sorted(names - set(LAYERS))}"


def test_no_private_name_crosses_a_module():
    bad = all_private_uses(ROOT, PACKAGE)
    assert not bad, "private names used outside their module:\n" + "\n".join(bad)


def test_curvature_imports_nothing_from_param_hessian():
    tree = ast.parse((PACKAGE / "curvature.py").read_text())
    targets = imported_modules(tree, "advnotes.curvature", False, "advnotes")
    assert all(not t.startswith("advnotes.param_hessian") for _, t in targets), targets


def test_the_checks_see_the_whole_project():
    assert len(list(PACKAGE.rglob("*.py"))) >= 15
    assert len(toc_notebooks(ROOT)) >= 5
    assert any(p.parent.name == "tests" for p in python_files(ROOT))


# --------------------------------------------------------------------------------------------------
# the checkers can fail: planted violations


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "advnotes"
    for rel, text in files.items():
        path = package / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (package / "__init__.py").touch()
    return package


@pytest.mark.parametrize(
    "module, source",
    [
        ("validation.py", "from .attacks import fgsm\n"),  # module level, relative
        ("models.py", "def f():\n    import advnotes.curvature\n"),  # function-local
        ("attacks.py", "from advnotes import threat\n"),  # same layer as a sibling above
        ("threat.py", "from . import training\n"),  # same layer (6)
        ("claims/__init__.py", "from ..data import load_digits\n"),  # claims/__init__ above layer 1
        ("claims/ch1.py", "from advnotes.chapters import ch1\n"),  # claims below chapters
        ("claims/ch2.py", "from advnotes.claims import ch1\n"),  # two chapter modules
        ("curvature.py", "def f():\n    from .param_hessian import param_hessian_top_eig\n"),
        ("newmodule.py", ""),  # a module without a layer
    ],
)
def test_layer_check_finds_a_planted_violation(tmp_path, module, source):
    package = _plant(
        tmp_path,
        {"claims/__init__.py": "", "claims/ch1.py": "", "chapters/__init__.py": "", "chapters/ch1.py": ""}
        | {module: source},
    )
    assert layer_violations(package)


def test_layer_check_passes_lawful_imports(tmp_path):
    package = _plant(
        tmp_path,
        {
            "attacks.py": "from .validation import check_model\nfrom . import curvature, stats\n",
            "claims/__init__.py": "from ..stats import t_interval\nfrom ..tables import show\n",
            "claims/ch1.py": "from . import ClaimSpec\nfrom ..param_hessian import x\nimport advnotes.claims\n",
            "chapters/__init__.py": "",
            "chapters/ch1.py": "from advnotes.claims import ch1\nfrom advnotes import settings\n",
            "validation.py": "import numpy\nimport torch\n",
        },
    )
    assert layer_violations(package) == []


@pytest.mark.parametrize(
    "source",
    [
        "from advnotes.attacks import _prepare\n",
        "from advnotes import attacks\nattacks._prepare(1)\n",
        "import advnotes.attacks as A\nA._prepare(1)\n",
        "import advnotes\nadvnotes.attacks._prepare(1)\n",
        "def f():\n    from advnotes.claims import ch1\n    return ch1._SPECS\n",
        "monkeypatch.setattr('advnotes.training._train_stacked', None)\n",
        "import advnotes._apidoc\n",
        "from advnotes import training\nmonkeypatch.setattr(training, '_mlp_plan', None)\n",
        "from advnotes import training\nwith mock.patch.object(training, '_mlp_plan', None):\n    pass\n",
    ],
)
def test_private_check_finds_a_planted_use(source):
    assert private_uses(source, where="planted.py")


@pytest.mark.parametrize(
    "source",
    [
        "from advnotes.attacks import fgsm\nfrom advnotes import __version__\n",
        "import torch\ntorch._C\nx = obj._private\n",  # not an advnotes module
        "from advnotes import attacks\nattacks.__name__\n",
    ],
)
def test_private_check_passes_public_uses(source):
    assert private_uses(source, where="ok.py") == []


def test_private_check_allows_a_module_its_own_names(tmp_path):
    source = "from . import attacks\n_x = 1\n\ndef f():\n    return _x + attacks.fgsm\n"
    assert private_uses(source, where="attacks.py", module="advnotes.attacks") == []
    assert private_uses("from .validation import _shape\n", where="attacks.py", module="advnotes.attacks")


def test_private_check_reads_notebooks(tmp_path):
    (tmp_path / "book").mkdir()
    cells = [
        {"cell_type": "markdown", "source": "advnotes.attacks._prepare in prose is fine", "metadata": {}},
        {
            "cell_type": "code",
            "source": ["%matplotlib inline\n", "from advnotes.attacks import _prepare\n"],
            "metadata": {},
            "outputs": [],
            "execution_count": None,
        },
    ]
    (tmp_path / "book" / "ch9.ipynb").write_text(json.dumps({"cells": cells}))
    (tmp_path / "_toc.yml").write_text("root: book/intro\nchapters:\n  - file: book/ch9\n")
    package = _plant(tmp_path, {"validation.py": ""})
    bad = all_private_uses(tmp_path, package)
    assert bad == ["book/ch9.ipynb:2 imports advnotes.attacks._prepare"]
