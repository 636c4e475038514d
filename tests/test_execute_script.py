"""scripts/execute.py stores outputs that do not depend on when the kernel flushed its output buffers,
on the caller's BLAS threads, or on the machine's kernel and CPU names."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "execute.py"
_spec = importlib.util.spec_from_file_location("advnotes_execute_script", SCRIPT)
execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute)


def stream(name, text):
    return new_output("stream", name=name, text=text)


def figure():
    return new_output("display_data", data={"text/plain": "<Figure>", "image/png": "iVBORw0KGgo="})


def test_consecutive_stream_outputs_are_merged():
    outputs = [stream("stdout", "a\n"), stream("stdout", "b\n"), stream("stdout", "c\n")]
    assert execute.merge_streams(outputs) == [stream("stdout", "a\nb\nc\n")]


def test_merging_keeps_text_and_displays_in_order():
    outputs = [stream("stdout", "a\n"), stream("stdout", "b\n"), figure(), stream("stdout", "c\n"), figure()]
    assert execute.merge_streams(outputs) == [stream("stdout", "a\nb\n"), figure(), stream("stdout", "c\n"), figure()]


def test_a_run_of_streams_puts_stdout_before_stderr():
    outputs = [stream("stderr", "warn\n"), stream("stdout", "a\n"), stream("stderr", "more\n"), stream("stdout", "b\n")]
    assert execute.merge_streams(outputs) == [stream("stdout", "a\nb\n"), stream("stderr", "warn\nmore\n")]


def test_merging_accepts_line_lists_and_leaves_its_input_alone():
    outputs = [stream("stdout", ["a\n", "b\n"]), stream("stdout", "c")]
    before = json.dumps(outputs)
    assert execute.merge_streams(outputs) == [stream("stdout", "a\nb\nc")]
    assert json.dumps(outputs) == before
    assert execute.merge_streams([]) == []


def _pair(old_outputs, new_outputs, src="print(1)"):
    old = new_notebook(cells=[new_code_cell(src, outputs=old_outputs)])
    new = new_notebook(cells=[new_code_cell(src, outputs=new_outputs)])
    execute.normalise(old)
    execute.normalise(new)
    return old, new


def test_split_stored_stdout_equals_one_merged_new_output():
    old, new = _pair([stream("stdout", "x = 1\n"), stream("stdout", "y = 2\n")], [stream("stdout", "x = 1\ny = 2\n")])
    assert old.cells[0].outputs == new.cells[0].outputs


def test_stored_output_is_kept_where_only_machine_names_differ():
    stored = "CPU: AMD EPYC (2 logical cores, x86_64)\nOS: Linux-6.18.44-fc-v669-x86_64-with-glibc2.36; Python 3.11.7\n"
    fresh = (
        "CPU: Intel(R) Xeon(R) CPU @ 2.20GHz (4 logical cores, x86_64)\n"
        "OS: Linux-6.1.0-13-amd64-x86_64-with-glibc2.36; Python 3.11.7\n"
    )
    old, new = _pair([stream("stdout", stored)], [stream("stdout", fresh)])
    assert execute.keep_stable_outputs(old, new, execute.load_sanitizers()) == 1
    assert new.cells[0].outputs[0].text == stored


def test_a_real_change_is_not_masked():
    old, new = _pair([stream("stdout", "accuracy 0.91\n")], [stream("stdout", "accuracy 0.93\n")])
    assert execute.keep_stable_outputs(old, new, execute.load_sanitizers()) == 0
    assert new.cells[0].outputs[0].text == "accuracy 0.93\n"


@pytest.mark.slow
def test_execute_merges_flushed_chunks_and_pins_blas_threads(tmp_path):
    """A cell whose printing reaches the notebook in several messages is stored as one output,
    and the kernel runs with one BLAS thread whatever the caller's environment says."""
    nb = new_notebook(
        cells=[
            new_markdown_cell("# T"),
            new_code_cell(
                "import os, sys, time\n"
                "for name in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'):\n"
                "    print(name, os.environ.get(name))\n"
                "    sys.stdout.flush()\n"
                "    time.sleep(0.3)"
            ),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, path)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}
    subprocess.run([sys.executable, str(SCRIPT), str(path)], check=True, capture_output=True, env=env)
    outputs = json.loads(path.read_text())["cells"][1]["outputs"]
    assert [o["output_type"] for o in outputs] == ["stream"]
    assert "".join(outputs[0]["text"]) == "OMP_NUM_THREADS 1\nMKL_NUM_THREADS 1\nOPENBLAS_NUM_THREADS 1\n"
