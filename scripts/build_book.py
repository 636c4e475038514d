"""Build the book; with --strict, fail on any warning and render the committed outputs.

`make test` calls this with --strict after nbval has re-executed every chapter and
compared its outputs with the committed ones, so the strict build does not execute
the chapters a second time (execution off, everything else as in _config.yml).
`make book` runs `jupyter-book build .` directly, which executes with a cache.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def relocate_local_extensions(config: str, folder: Path) -> str:
    """``config`` (the text of _config.yml) for a copy written into ``folder``.

    Jupyter Book resolves the paths of ``sphinx.local_extensions`` against the folder of the
    config file it reads, so the copy names them relative to ``folder`` (``book/_ext`` becomes
    ``../book/_ext`` for ``_build``); every other setting is kept as it is.
    """
    data = yaml.safe_load(config)
    local = (data.get("sphinx") or {}).get("local_extensions") or {}
    if not local:
        return config
    data["sphinx"]["local_extensions"] = {
        name: os.path.relpath(ROOT / path, folder.resolve()) for name, path in local.items()
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="-W -n --keep-going, committed outputs")
    args = parser.parse_args(argv)
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "--all"]
    if args.strict:
        config = (ROOT / "_config.yml").read_text()
        marker = "execute_notebooks: cache"
        if marker not in config:
            print(f"_config.yml must contain '{marker}' (build_book.py switches it off)", file=sys.stderr)
            return 2
        out = ROOT / "_build"
        out.mkdir(exist_ok=True)
        strict_config = out / "_config_strict.yml"
        strict_config.write_text(relocate_local_extensions(config.replace(marker, 'execute_notebooks: "off"'), out))
        cmd += ["-W", "-n", "--keep-going", "--config", str(strict_config)]
    return subprocess.call(cmd, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
