"""Output files: written atomically, never over one of the call's inputs."""

import os
import signal
import tempfile

import pytest

from gaussmix._outputs import OutputIsInputError, atomic_write


def test_an_input_is_refused_by_name_and_through_links(tmp_path):
    source = tmp_path / "d.csv"
    source.write_text("a\n1\n")
    symbolic = tmp_path / "s.csv"
    symbolic.symlink_to(source)
    hard = tmp_path / "h.csv"
    os.link(source, hard)
    for output in (source, symbolic, hard):
        refused = pytest.raises(OutputIsInputError, match="refusing to write")
        with refused, atomic_write(output, "w", inputs=[source]) as f:
            f.write("lost")
    assert source.read_text() == "a\n1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "h.csv", "s.csv"]


def test_another_output_is_written_and_a_failure_leaves_no_trace(tmp_path):
    source = tmp_path / "d.csv"
    source.write_text("a\n1\n")
    with atomic_write(tmp_path / "out.csv", "w", inputs=[source]) as f:
        f.write("ok")
    assert (tmp_path / "out.csv").read_text() == "ok"
    with pytest.raises(RuntimeError), atomic_write(tmp_path / "out.csv", "w") as f:
        f.write("half")
        raise RuntimeError
    assert (tmp_path / "out.csv").read_text() == "ok"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "out.csv"]


class _Signalled(BaseException):
    pass


def _raise_signalled(signum, frame):
    raise _Signalled


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_a_signal_right_after_the_temporary_file_is_created_leaves_no_trace(tmp_path, monkeypatch):
    # The signal arrives the moment mkstemp has made the file, before its name is
    # returned: it must wait until the cleanup knows the name.
    create = tempfile.mkstemp

    def create_then_signal(*args, **kwargs):
        made = create(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return made

    monkeypatch.setattr(tempfile, "mkstemp", create_then_signal)
    previous = signal.signal(signal.SIGTERM, _raise_signalled)
    try:
        with pytest.raises(_Signalled), atomic_write(tmp_path / "out.csv", "w") as f:
            f.write("never")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert list(tmp_path.iterdir()) == []
