"""Run book pages the way a Colab reader meets them: alone in an empty folder, advnotes installed (not editable).

    python scripts/run_standalone.py [book/ch5_prior_findings.ipynb ...]

Builds a wheel of the package, installs it (without dependencies) into a temporary folder that
comes first on the kernel's path, copies each notebook alone into an empty folder and executes it
there with nbclient. Prints one line per page (ok / the error) and exits non-zero if a page that
offers a launch button fails. Defaults to every notebook in _toc.yml.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def toc_notebooks() -> list[Path]:
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [ch["file"] for part in toc.get("parts", []) for ch in part.get("chapters", [])]
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").is_file()]


def no_launch_pages() -> set[str]:
    import yaml

    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    return set(cfg.get("sphinx", {}).get("config", {}).get("advnotes_no_launch", []))


def install_package(target: Path) -> None:
    """Build a wheel from a copy of the tree and install it into ``target`` (no dependencies)."""
    src = target.parent / "src-copy"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", "_build", ".git", "build", "*.egg-info"))
    wheels = target.parent / "wheels"
    run = lambda *cmd: subprocess.run([sys.executable, "-m", "pip", *cmd], check=True, capture_output=True)  # noqa: E731
    run("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src))
    (wheel,) = wheels.glob("advnotes-*.whl")
    run("install", "--no-deps", "-q", "--target", str(target), str(wheel))


def run_alone(notebook: Path, target: Path, workdir: Path, timeout: int = 900) -> tuple[bool, str, float]:
    """Execute ``notebook`` alone in ``workdir`` with ``target`` first on the kernel's path."""
    import nbformat
    from nbclient import NotebookClient

    workdir.mkdir(parents=True)
    copy = workdir / notebook.name
    shutil.copy(notebook, copy)
    nb = nbformat.read(copy, as_version=4)
    env_before = dict(os.environ)
    os.environ["PYTHONPATH"] = str(target)
    os.environ["ADVNOTES_EVIDENCE_DIR"] = str(workdir / "evidence")
    start = time.perf_counter()
    try:
        NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
        ).execute()
        check = "import advnotes, sys; assert advnotes.__file__.startswith(sys.argv[1]), advnotes.__file__"
        subprocess.run([sys.executable, "-c", check, str(target)], check=True, capture_output=True)
        return True, "ok", time.perf_counter() - start
    except Exception as err:  # report the page's failure, keep going
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip().splitlines()
        return False, (text[-1] if text else type(err).__name__)[:200], time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(env_before)


def main(argv: list[str]) -> int:
    notebooks = [Path(a).resolve() for a in argv] or toc_notebooks()
    skip_ok = no_launch_pages()
    failed = []
    with tempfile.TemporaryDirectory(prefix="advnotes-standalone-") as tmp:
        target = Path(tmp) / "site"
        install_package(target)
        print(f"advnotes installed (not editable) into {target}")
        for nb in notebooks:
            ok, why, seconds = run_alone(nb, target, Path(tmp) / nb.stem)
            page = f"book/{nb.stem}"
            launch = "no launch button" if page in skip_ok else "launch button"
            print(f"{page:36s} {launch:17s} {'runs alone' if ok else 'FAILS: ' + why} ({seconds:.0f} s)")
            if not ok and page not in skip_ok:
                failed.append(page)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
