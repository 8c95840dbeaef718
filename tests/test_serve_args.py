"""`nntui --serve` bad input (one line, exit 2, before anything starts), the per-tab command
line, and the per-tab run directories. No browser, no server: tests/e2e/test_serve.py has those.

Names are resolved with a stand-in getaddrinfo where a real lookup would leave the machine
(tests talk to loopback only); binding checks use real loopback sockets.
"""

from __future__ import annotations

import argparse
import shlex
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nntui import serve
from nntui.cli import main
from nntui.serve import add_serve_arguments, check_serve_args, is_loopback, tab_argv, tab_command
from nntui.serve_tab import claim_tab_dir


def parse(*argv: str) -> argparse.Namespace:
    """The serve flags beside the few others check_serve_args reads."""
    p = argparse.ArgumentParser()
    add_serve_arguments(p)
    p.add_argument("--headless", action="store_true")
    p.add_argument("--resume")
    p.add_argument("--out")
    return p.parse_args(argv)


@pytest.fixture
def listener() -> Iterator[int]:
    """A port with a listener on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_serve_flags_is_fine() -> None:
    assert check_serve_args(parse()) is None


def test_a_free_loopback_port_is_fine(free_port: int) -> None:
    assert check_serve_args(parse("--serve", "--port", str(free_port))) is None
    assert check_serve_args(parse("--serve", "--host", "localhost", "--port", str(free_port))) is None


@pytest.mark.parametrize("flag", [("--host", "127.0.0.1"), ("--port", "8000")])
def test_host_or_port_without_serve(flag: tuple[str, str]) -> None:
    assert check_serve_args(parse(*flag)) == f"{flag[0]} only applies to --serve"


def test_serve_with_headless() -> None:
    problem = check_serve_args(parse("--serve", "--headless"))
    assert problem is not None and "--serve and --headless" in problem


def test_serve_resume_needs_out() -> None:
    problem = check_serve_args(parse("--serve", "--resume", "runs/a"))
    assert problem is not None and "--resume needs --out" in problem


@pytest.mark.parametrize("port", [0, -1, 65536, 100000])
def test_port_out_of_range(port: int) -> None:
    assert check_serve_args(parse("--serve", f"--port={port}")) == f"port: {port} is not valid; expected 1 to 65535"


def test_port_in_use(listener: int) -> None:
    problem = check_serve_args(parse("--serve", "--port", str(listener)))
    assert problem == f"port: {listener} is already in use on 127.0.0.1; choose another with --port"


def test_host_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    problem = check_serve_args(parse("--serve", "--host", "gpu-srever"))
    assert problem == "host: 'gpu-srever' does not resolve (Name or service not known)"


def test_host_that_is_not_this_machine() -> None:
    problem = check_serve_args(parse("--serve", "--host", "192.0.2.1"))  # TEST-NET-1: nobody's address
    assert problem == "host: '192.0.2.1' (192.0.2.1) is not an address of this machine"


def test_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.3.2.1") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1") and not is_loopback("::")


def test_tab_argv_keeps_everything_but_the_server_flags() -> None:
    argv = ["--serve", "--host", "0.0.0.0", "--port=9000", "--lr", "0.01", "--out", "runs", "--out=x",
            "--port", "8001", "--hidden=4,4", "--epochs", "10"]
    assert tab_argv(argv) == ["--lr", "0.01", "--hidden=4,4", "--epochs", "10"]


def test_tab_command_execs_the_tab_launcher_with_quoted_flags(tmp_path: Path) -> None:
    out = tmp_path / "my runs"
    command = tab_command(["--data", "a file.csv", "--lr=-1e-3"], out)
    assert command.startswith("exec ")
    assert shlex.split(command[5:]) == [
        sys.executable, "-m", "nntui.serve_tab", "--out-root", str(out), "--", "--data", "a file.csv", "--lr=-1e-3",
    ]


def test_tabs_claim_distinct_directories_even_at_once(tmp_path: Path) -> None:
    claimed: list[Path] = []
    lock = threading.Lock()

    def claim() -> None:
        path = claim_tab_dir(tmp_path / "runs")
        with lock:
            claimed.append(path)

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.name for p in claimed) == sorted(f"tab-{n}" for n in range(1, 17))
    (tmp_path / "runs" / "tab-18").mkdir()  # a gap is filled first; existing names are skipped
    assert [claim_tab_dir(tmp_path / "runs").name for _ in range(2)] == ["tab-17", "tab-19"]


def test_without_textual_serve_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "textual_serve", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    assert serve.run_serve("127.0.0.1", 8000, [], None) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install" in err and "nntui[serve]" in err


# -- through the real command line --------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--serve", "--headless"], "--serve and --headless"),
        (["--serve", "--port", "70000"], "port: 70000 is not valid"),
        (["--serve", "--port", "0"], "port: 0 is not valid"),
        (["--port", "9000"], "--port only applies to --serve"),
        (["--serve", "--host", "192.0.2.1"], "is not an address of this machine"),
    ],
)
def test_cli_refuses_in_one_line(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err


def test_cli_port_in_use_before_anything_starts(listener: int, tmp_path: Path) -> None:
    """A real process: the refusal comes before any banner, and no tab directory is made."""
    done = subprocess.run(
        [sys.executable, "-m", "nntui", "--serve", "--port", str(listener), "--out", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == f"nntui: error: port: {listener} is already in use on 127.0.0.1; choose another with --port\n"
    assert not (tmp_path / "runs").exists()


def test_cli_host_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def no_such_host(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    assert main(["--serve", "--host", "gpu-srever"]) == 2
    assert capsys.readouterr().err == "nntui: error: host: 'gpu-srever' does not resolve (Name or service not known)\n"
