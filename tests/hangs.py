"""A test that overruns its time limit fails loudly, showing where everything was stuck.

pytest-timeout (the limits are in pyproject.toml; `@pytest.mark.timeout` raises one for a slow
test) ends a test that overruns with every thread's stack and stops the run: its thread
method, so it works whatever the main thread is doing. Just before that, this prints the stack
of every task of every running asyncio event loop: a hang in async code is a task waiting for
something that never happens, which no thread's stack shows (the loop's thread just sits in
select()). And if the main thread never lets go of the GIL (a runaway regular expression, say),
pytest-timeout's thread cannot run at all: then faulthandler, from C, prints every thread's
stack a minute after the limit and ends the process.

Registered from tests/conftest.py (pytest_plugins).
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import os
import threading
from typing import Any

import pytest

BACKSTOP = 60.0  # seconds past the limit before faulthandler steps in
_stderr: int | None = None  # the real stderr, copied before any test's output is captured


def pytest_configure(config: pytest.Config) -> None:
    global _stderr
    _stderr = os.dup(2)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _stderr
    if _stderr is not None:
        with contextlib.suppress(OSError):
            os.close(_stderr)
        _stderr = None


def running_loops() -> list[asyncio.AbstractEventLoop]:
    """Every event loop running in this process, in any thread."""
    loops = []
    for thing in gc.get_objects():
        with contextlib.suppress(Exception):  # a dead weak proxy, say
            if isinstance(thing, asyncio.AbstractEventLoop) and thing.is_running():
                loops.append(thing)
    return loops


def _first(thing: Any, *names: str) -> Any:
    return next((v for v in (getattr(thing, n, None) for n in names) if v is not None), None)


def describe_tasks(loop: asyncio.AbstractEventLoop) -> str:
    """Each task of `loop`, with the chain of coroutines it is awaiting (outermost first)."""
    lines: list[str] = []
    for task in sorted(asyncio.all_tasks(loop), key=lambda t: t.get_name()):
        lines.append(repr(task))  # its name, coroutine and the future it waits for
        awaited: Any = task.get_coro()
        while (frame := _first(awaited, "cr_frame", "gi_frame", "ag_frame")) is not None:
            code = frame.f_code
            lines.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}')
            awaited = _first(awaited, "cr_await", "gi_yieldfrom", "ag_await")
    return "\n".join(lines) + "\n"


def dump_tasks(item: pytest.Item) -> None:
    capman = item.config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        capman.suspend_global_capture(in_=True)
    terminal = item.config.get_terminal_writer()
    terminal.sep("+", title=f"Timeout: asyncio tasks of {item.nodeid}")
    loops = running_loops()
    if not loops:
        terminal.line("(no event loop was running)")
    for loop in loops:
        terminal.sep("~", title=f"Tasks of {loop!r}")
        try:
            terminal.write(describe_tasks(loop))
        except Exception as exc:  # the loop moved on under us: say so, and carry on
            terminal.line(f"(could not list them: {exc!r})")
    terminal.flush()


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """pytest-timeout's thread method, with the asyncio tasks and the faulthandler backstop."""
    if settings.method != "thread":
        return None  # pytest-timeout's own way
    import pytest_timeout  # type: ignore[import-untyped]  # it ships no type information

    def expire() -> None:
        if not settings.disable_debugger_detection and pytest_timeout.is_debugging():
            return
        try:
            dump_tasks(item)
        finally:
            pytest_timeout.timeout_timer(item, settings)  # the threads' stacks; then it exits

    timer = threading.Timer(settings.timeout, expire)
    timer.name = f"pytest_timeout {item.nodeid}"
    stderr = _stderr
    backstop = stderr is not None and not float(item.config.getini("faulthandler_timeout") or 0)
    if backstop and stderr is not None:
        faulthandler.dump_traceback_later(settings.timeout + BACKSTOP, exit=True, file=stderr)

    def cancel() -> None:
        timer.cancel()
        timer.join()
        if backstop:
            faulthandler.cancel_dump_traceback_later()

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  # pytest-timeout calls it
    timer.start()
    return True
