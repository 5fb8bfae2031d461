"""Files that are whole or absent: model saves and scoring output under SIGKILL and concurrent writers."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from clv_predict import load_model, score_file

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and fork semantics")


def _python(code: str, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _save_loop(paths, target, rounds, ready):
    models = [load_model(path) for path in paths]
    ready.set()
    for i in range(rounds):
        models[i % 2].save(target)


def _writer(paths, target, rounds) -> multiprocessing.Process:
    """A forked process (the package already imported) saving two models in turn to ``target``."""
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    process = context.Process(target=_save_loop, args=(paths, target, rounds, ready), daemon=True)
    process.start()
    assert ready.wait(timeout=60)
    return process


@pytest.fixture(scope="module")
def two_models(cdnow_model, tmp_path_factory):
    """The CDNOW model and a second one with other parameters, saved once each."""
    folder = tmp_path_factory.mktemp("models")
    first, second = folder / "a.joblib", folder / "b.joblib"
    cdnow_model.save(first)
    other = load_model(first)
    other.purchase_model_.params_ = other.purchase_model_.params_ * 1.5
    other.save(second)
    return first, second, {tuple(load_model(p).params_.round(12)) for p in (first, second)}


def _assert_whole(path, known):
    model = load_model(path)  # raises ModelFileError on a broken file
    assert tuple(model.params_.round(12)) in known


def test_a_writer_killed_mid_save_leaves_the_old_or_the_new_model(two_models, tmp_path):
    first, second, known = two_models
    target = tmp_path / "model.joblib"
    target.write_bytes(first.read_bytes())
    rng = np.random.default_rng(2026)
    for _ in range(25):
        writer = _writer((first, second), target, 10**6)
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(writer.pid, signal.SIGKILL)
        writer.join()
        assert writer.exitcode == -signal.SIGKILL
        _assert_whole(target, known)
    # a killed writer may leave its temporary file behind, never under the target's name
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert all(name.startswith(".model.joblib.") and name.endswith(".tmp") for name in leftovers)


def test_two_processes_saving_to_one_path_leave_one_whole_file(two_models, tmp_path):
    first, second, known = two_models
    target = tmp_path / "shared.joblib"
    target.write_bytes(first.read_bytes())
    writers = [_writer(paths, target, 200) for paths in ((first, second), (second, first))]
    reads = 0
    while any(writer.is_alive() for writer in writers):
        _assert_whole(target, known)  # a reader never sees a half-written file either
        reads += 1
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    _assert_whole(target, known)
    assert reads > 0
    assert [p.name for p in tmp_path.iterdir()] == ["shared.joblib"]  # no temporary file left by finished writers


SCORE_AND_DIE = """
    import os, signal, sys
    from clv_predict import load_model, score_file
    model = load_model(sys.argv[1])
    def die_after_two(done, total):
        if done == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    score_file(model, sys.argv[2], sys.argv[3], horizon=26, discount_rate=0.002, chunk_rows=int(sys.argv[4]),
               progress=die_after_two)
"""


@pytest.fixture(scope="module")
def transaction_file(cdnow_log, tmp_path_factory):
    path = tmp_path_factory.mktemp("input") / "cdnow.csv"
    cdnow_log.assign(date=cdnow_log["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    return path


def test_a_crash_mid_scoring_leaves_no_file_that_looks_finished(two_models, transaction_file, tmp_path):
    first, _, _ = two_models
    output = tmp_path / "scores.csv"
    crashed = _python(SCORE_AND_DIE, first, transaction_file, output, 1500)
    crashed.wait(timeout=120)
    assert crashed.returncode == -signal.SIGKILL
    assert not output.exists()
    assert all(p.name.endswith(".partial") for p in tmp_path.iterdir())

    # the rerun gives exactly what one uninterrupted run gives
    model = load_model(first)
    score_file(model, transaction_file, output, horizon=26, discount_rate=0.002, chunk_rows=1500)
    score_file(model, transaction_file, tmp_path / "once.csv", horizon=26, discount_rate=0.002)
    rerun = pd.read_csv(output, dtype={"customer_id": str}).sort_values("customer_id").reset_index(drop=True)
    once = pd.read_csv(tmp_path / "once.csv", dtype={"customer_id": str}).sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(rerun, once, rtol=1e-12)
    assert len(once) == 2357


def test_an_interrupted_rerun_keeps_the_previous_output_intact(two_models, transaction_file, tmp_path):
    model = load_model(two_models[0])
    output = tmp_path / "scores.parquet"
    score_file(model, transaction_file, output, horizon=26, chunk_rows=2000)
    before = output.read_bytes()

    def interrupt(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_file(model, transaction_file, output, horizon=52, chunk_rows=2000, progress=interrupt)
    assert output.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]  # the partial file was removed


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT])
def test_a_terminated_or_interrupted_cli_leaves_nothing_behind(two_models, transaction_file, tmp_path, sent):
    output = tmp_path / "scores.csv"
    command = [sys.executable, "-m", "clv_predict.cli", "score", "--model", str(two_models[0]), "--input",
               str(transaction_file), "--output", str(output), "--horizon", "1000", "--discount-rate", "0.0001",
               "--chunk-rows", "300"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".scores.csv.") for p in tmp_path.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(sent)
    process.wait(timeout=60)
    # Ctrl-C is reported with 130; one that lands outside the command's own handler ends Python by the signal
    expected = (143,) if sent == signal.SIGTERM else (130, -signal.SIGINT)
    assert process.returncode in expected, process.stderr.read().decode()
    assert list(tmp_path.iterdir()) == []


def test_the_next_writer_removes_partial_files_of_killed_writers_only(two_models, transaction_file, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    output = tmp_path / "scores.csv"
    stale = tmp_path / f".scores.csv.{dead.pid}.abcd1234.partial"
    stale.write_bytes(b"")
    running = tmp_path / f".scores.csv.{os.getppid()}.abcd1234.partial"  # a live process: maybe writing now
    running.write_bytes(b"")
    other = tmp_path / f".other.csv.{dead.pid}.abcd1234.partial"  # another output's: not ours to remove
    other.write_bytes(b"")
    score_file(load_model(two_models[0]), transaction_file, output, horizon=26)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([output.name, running.name, other.name])


@pytest.mark.parametrize("signal_exception", ["terminated", "interrupted"])
def test_an_interruption_just_after_a_temporary_file_appears_leaves_nothing(tmp_path, monkeypatch, capsys,
                                                                            signal_exception):
    """The instant between mkstemp and the writer's cleanup block: the command line removes its own files."""
    from clv_predict import cli

    output = tmp_path / "scores.csv"
    plots = tmp_path / "out" / "plots"
    plots.mkdir(parents=True)

    def handler(args, out):
        (tmp_path / f".scores.csv.{os.getpid()}.abc123.partial").write_bytes(b"")
        (plots / f".tracking.png.{os.getpid()}.abc123.tmp").write_bytes(b"")
        raise cli._Terminated() if signal_exception == "terminated" else KeyboardInterrupt()

    others = [tmp_path / f".scores.csv.{os.getpid() + 1}.abc123.partial", tmp_path / ".other.csv.1.x.partial"]
    for other in others:
        other.write_bytes(b"")
    args = argparse.Namespace(handler=handler, output=str(output), output_dir=str(tmp_path / "out"))
    assert cli._run(args) == (143 if signal_exception == "terminated" else 130)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*(o.name for o in others), "out"])
    assert list(plots.iterdir()) == []
