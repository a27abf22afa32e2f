"""The durable runtime against what a user would write by hand: raw Celery, and moto.

Run by hand (not a test)::

    pip install -e '.[bench]' && python bench/runtime.py            # the whole table
    python bench/runtime.py --items 500 --only map                  # one part, smaller
    python bench/runtime.py --redis-url redis://127.0.0.1:6379/14   # another Redis

One process tree against one Redis (by default a ``redis-server`` of its own on a free port,
no persistence, so its memory figures are this run's alone; ``--aof`` turns on
``appendfsync everysec``), and one worker pool setting for both sides (prefork,
``--concurrency`` processes, 2 by default, each reserving ``--prefetch`` messages, 4 by
default: Celery's own default). Both sides' workers are up at once and take turns (the
idle side waits on its queue; this runtime's also ticks its scheduler, 4 times a second):

- chain: a sequence of ``--chain`` no-op Lambda Tasks (one execution) vs a raw Celery
  ``chain`` of the same no-op task, results in the Redis result backend; tasks/s.
- map: a Map of ``--items`` no-op Task items (MaxConcurrency 0) vs a raw Celery ``group``
  of as many no-op tasks, ``.get()`` on the Redis result backend; tasks/s.
- chain and map run ``--repeat`` times (5 by default), raw Celery and this runtime in
  turns (raw first in the first pair, ours first in the second, and so on): a run is short
  and this machine's speed drifts, so each pair is timed under the same conditions; the
  table shows the medians of each side and of the pairs' ratios.
- loop: a Pass/Choice loop of ``2 * --loops`` transitions (bench/transitions.py's
  definition) on the Redis runtime and on the in-process driver vs moto's interpreter
  (``bench/transitions.py``'s ``run_moto``), ``--repeat`` rounds of the three; transitions/s.
- starts: ``--starts`` executions of a one-Task machine started one after another by one
  client (executions started/s), then the time until the workers finished them all.
- memory: Redis ``used_memory`` growth over those executions divided by their history
  events, and ``MEMORY USAGE`` of the history lists alone, per event.

The raw Celery side acknowledges early, Celery's default, as a user writing it by hand would;
``--raw-late-acks`` gives it this runtime's ``acks_late`` and ``reject_on_worker_lost``.
``sfn worker``'s own default prefetch is 1 (a reserved message waits behind a long handler);
``--prefetch 1 --raw-late-acks`` compares both at that. Each runtime line also shows Redis
commands per history event (``INFO stats`` delta), and the chain and the Map print the CPU
each side spent per task: its workers' process tree (Linux's /proc), Redis (``INFO cpu``)
and this client process.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from celery import Celery, chain, group

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SFN = Path(sys.executable).parent / "sfn"
sys.path.insert(0, str(HERE))
import transitions  # noqa: E402  (bench/transitions.py: the loop definition, moto's run)

FN = "arn:aws:lambda:us-east-1:123456789012:function:"
NOOP_TASK = "bench.noop"
RAW_QUEUE = "bench-raw"
READY_SECONDS = 60.0
HANDLER = """
def noop(event, context):
    return event
"""
PROJECT = """functions:
  Noop:
    handler: benchrt_handlers/noop.noop
"""


# -- the raw Celery side ----------------------------------------------------------------


def raw_app(url: str, *, late_acks: bool) -> Celery:
    """The app a user would write by hand: one no-op task, results in Redis."""
    app = Celery("rawbench", broker=url, backend=url, set_as_current=False)
    app.conf.update(
        task_default_queue=RAW_QUEUE,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        result_expires=600,
    )
    if late_acks:
        app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True)

    @app.task(name=NOOP_TASK)  # type: ignore[untyped-decorator]
    def noop(value: Any = None) -> Any:
        return value

    return app


def raw_worker_main(url: str, concurrency: int, late_acks: bool, prefetch: int) -> None:
    """``python bench/runtime.py raw-worker URL N late|early PREFETCH``: the raw side's
    worker."""
    raw_app(url, late_acks=late_acks).worker_main(
        [
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            f"--prefetch-multiplier={prefetch}",
            "--loglevel=WARNING",
            f"--queues={RAW_QUEUE}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


# -- processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def own_redis(folder: Path, aof: bool) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--save",
            "",
            "--appendonly",
            "yes" if aof else "no",
            "--appendfsync",
            "everysec",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = redis.Redis(port=port)
    give_up = time.monotonic() + READY_SECONDS
    while True:
        with contextlib.suppress(redis.ConnectionError):
            client.ping()
            break
        if time.monotonic() > give_up:
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)
    client.close()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def process_group(args: list[str], env: dict[str, str], log: Path) -> Iterator[int]:
    """A worker in its own process group, stopped (warm, then SIGKILL) on exit; yields its
    pid."""
    with log.open("ab") as handle:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by process ``root`` and its descendants
    (Linux's /proc; 0 elsewhere)."""
    parents: dict[int, int] = {}
    spent: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            # the command name (field 2) may hold spaces: split after its ")"
            fields = entry.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        pid = int(entry.parent.name)
        parents[pid] = int(fields[1])
        spent[pid] = (int(fields[11]) + int(fields[12])) / tick
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += spent.get(pid, 0.0)
        stack += [child for child, parent in parents.items() if parent == pid]
    return total


@dataclass
class Cpu:
    """CPU seconds spent by each part of one side's run."""

    workers: float = 0.0
    redis: float = 0.0
    client: float = 0.0

    def add(self, other: Cpu) -> None:
        self.workers += other.workers
        self.redis += other.redis
        self.client += other.client

    def per_task(self, count: int) -> str:
        per = 1000 / count
        return (f"workers {self.workers * per:.2f} + Redis {self.redis * per:.2f} + "
                f"client {self.client * per:.2f} ms CPU/task")


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


@contextlib.contextmanager
def measured(into: Cpu, worker: int, client: redis.Redis) -> Iterator[None]:
    """Add to ``into`` the CPU that ``worker``'s tree, Redis and this process spend."""
    before = (tree_cpu(worker), redis_cpu(client), time.process_time())
    yield
    into.add(Cpu(tree_cpu(worker) - before[0], redis_cpu(client) - before[1],
                 time.process_time() - before[2]))


# -- our side ---------------------------------------------------------------------------


@dataclass
class Ours:
    """A client of this runtime's deployment (the workers run under ``process_group``)."""

    runtime: Any
    redis: redis.Redis

    def run(
        self, definition: dict[str, Any], input: Any, machine: str, timeout: float = 3600
    ) -> tuple[float, Any]:
        """Start one execution and wait until it stops: (seconds, result). The clock
        stops when the waiter hears it stopped (as raw Celery's ``.get()`` hears of its
        results); reading the history back is not timed."""
        from statemachine.runtime.results import result_from_store

        store = self.runtime.store
        began = time.perf_counter()
        eid = self.runtime.start(
            json.dumps(definition), input, machine=machine, name=uuid.uuid4().hex
        )
        if store.wait_stopped(eid, timeout) == "RUNNING":
            raise TimeoutError(f"{machine} still running after {timeout} s")
        elapsed = time.perf_counter() - began
        result = result_from_store(store, eid)
        if result.status != "SUCCEEDED":
            raise RuntimeError(f"{machine}: {result.status} {result.error} {result.cause}")
        return elapsed, result

    def commands(self) -> int:
        return int(self.redis.info("stats")["total_commands_processed"])


def make_ours(url: str, project_file: Path, prefix: str) -> Ours:
    from statemachine.runtime.engine import Runtime
    from statemachine.runtime.store import RedisHistoryStore, redis_client
    from workers.celery_app import make_app
    from workers.registry import load_project
    from workers.tasks import CeleryDispatcher

    app = make_app(None, url, project_file, prefix=prefix, queue=prefix, scheduler=False)
    client = redis_client(url)  # as ``sfn run``'s
    store = RedisHistoryStore(client, prefix=prefix)
    return Ours(Runtime(store, CeleryDispatcher(app, load_project(project_file))), client)


def task(next_state: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": FN + "Noop"}
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state
    return state


def chain_definition(length: int) -> dict[str, Any]:
    names = [f"T{n}" for n in range(length)]
    return {
        "StartAt": names[0],
        "States": {
            name: task(names[n + 1] if n + 1 < length else None) for n, name in enumerate(names)
        },
    }


def map_definition() -> dict[str, Any]:
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 0,
                "ItemProcessor": {"StartAt": "Noop", "States": {"Noop": task(None)}},
                "End": True,
            }
        },
    }


ONE_TASK = {"StartAt": "Noop", "States": {"Noop": task(None)}}


# -- the table ---------------------------------------------------------------------------


@dataclass
class Row:
    case: str
    ours: str
    theirs: str
    ratio: str
    note: str = ""


def per_second(count: float, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s ({seconds:.2f} s)"


def print_table(rows: list[Row]) -> None:
    header = Row("case", "this runtime", "by hand", "ratio", "notes")
    widths = [
        max(len(getattr(r, f)) for r in [header, *rows])
        for f in ("case", "ours", "theirs", "ratio", "note")
    ]
    for row in [header, *rows]:
        cells = [row.case, row.ours, row.theirs, row.ratio, row.note]
        print("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |")
        if row is header:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def redispatches(log: Path) -> int:
    """How many task attempts the workers' recovery loop has sent again so far."""
    return log.read_text(errors="replace").count("passed its deadline")


def history_events(ours: Ours, eids: list[str]) -> int:
    pipe = ours.redis.pipeline(transaction=False)
    for eid in eids:
        pipe.llen(ours.runtime.store.key(eid, "events"))
    return sum(pipe.execute())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis-url", help="use this Redis (default: start one)")
    parser.add_argument("--aof", action="store_true", help="own Redis: appendonly everysec")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--items", type=int, default=2000, help="Map items / group size")
    parser.add_argument("--chain", type=int, default=200, help="chain length")
    parser.add_argument(
        "--loops",
        type=int,
        default=transitions.LOOPS,
        help="Pass/Choice loops (2 transitions each)",
    )
    parser.add_argument("--starts", type=int, default=1000, help="executions to start")
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs of the chain, Map and loop, each side (median)"
    )
    parser.add_argument(
        "--raw-late-acks", action="store_true", help="raw Celery with this runtime's settings"
    )
    parser.add_argument(
        "--prefetch", type=int, default=4, help="both sides' workers' prefetch multiplier"
    )
    parser.add_argument(
        "--only", action="append", choices=PARTS, help="run only these parts (repeatable)"
    )
    return parser.parse_args(argv)


PARTS = ["chain", "map", "loop", "starts"]


@dataclass
class Bench:
    args: argparse.Namespace
    parts: set[str]
    url: str
    env: dict[str, str]
    folder: Path
    #: this runtime's and raw Celery's worker pids, once started
    pids: tuple[int, int] = (0, 0)

    def run(self) -> Iterator[Row]:
        """Both sides' workers up at once (the idle side waits on its queue), the chain and
        the Map run in turns, raw Celery then this runtime, ``--repeat`` times: each pair
        sees the machine in the same state, and the ratio shown is the median of the
        pairs' ratios."""
        args = self.args
        ours = make_ours(self.url, Path(self.env["SFN_CONFIG"]), self.env["SFN_PREFIX"])
        app = raw_app(self.url, late_acks=args.raw_late_acks)
        noop = app.tasks[NOOP_TASK]
        acks = "late" if args.raw_late_acks else "early"
        raw_worker = [sys.executable, __file__, "raw-worker", self.url, str(args.concurrency),
                      acks, str(args.prefetch)]
        worker = [str(SFN), "worker", "--concurrency", str(args.concurrency)]
        worker += ["--pool", "prefork", "--loglevel", "WARNING"]
        worker += ["--prefetch-multiplier", str(args.prefetch)]
        log = self.folder / "sfn-worker.log"
        with (
            process_group(raw_worker, self.env, self.folder / "raw-worker.log") as raw_pid,
            process_group(worker, self.env, log) as our_pid,
        ):
            self.pids = (our_pid, raw_pid)
            noop.delay(0).get(timeout=READY_SECONDS)  # the raw worker is up
            ours.run(ONE_TASK, {"warm": "up"}, "warmup", timeout=READY_SECONDS)
            if "chain" in self.parts:

                def raw_chain() -> None:
                    chain(*[noop.si(n) for n in range(args.chain)]).apply_async().get(
                        timeout=3600
                    )

                yield self.paired(
                    ours, log, f"chain of {args.chain} Tasks", raw_chain,
                    chain_definition(args.chain), {"n": 1}, args.chain,
                )
            if "map" in self.parts:
                items = list(range(args.items))

                def raw_group() -> None:
                    outputs = group(noop.s(n) for n in items).apply_async().get(timeout=3600)
                    assert outputs == items

                yield self.paired(
                    ours, log, f"Map of {args.items} Tasks", raw_group, map_definition(),
                    {"items": items}, args.items, items,
                )
            if "loop" in self.parts:
                yield from self.loop(ours)
            if "starts" in self.parts:
                yield from self.starts(ours)
        app.close()
        ours.runtime.store.delete_prefix()
        ours.redis.close()

    def paired(
        self,
        ours: Ours,
        log: Path,
        case: str,
        raw: Callable[[], None],
        definition: dict[str, Any],
        input: Any,
        count: int,
        output: Any = None,
    ) -> Row:
        resent, commands = redispatches(log), 0
        raw_runs, our_runs = [], []
        our_cpu, raw_cpu = Cpu(), Cpu()
        def run_raw() -> None:
            with measured(raw_cpu, self.pids[1], ours.redis):
                began = time.perf_counter()
                raw()
                raw_runs.append(time.perf_counter() - began)

        def run_ours() -> Any:
            nonlocal commands
            before = ours.commands()
            with measured(our_cpu, self.pids[0], ours.redis):
                seconds, result = ours.run(definition, input, case)
            commands += ours.commands() - before
            our_runs.append(seconds)
            assert output is None or result.output == output
            return result

        for number in range(self.args.repeat):
            # Turns alternate who goes first (raw, ours; ours, raw; ...): this machine's
            # speed drifts within a pair too, and a fixed order would favour one side.
            if number % 2 == 0:
                run_raw()
                result = run_ours()
            else:
                result = run_ours()
                run_raw()
        per_event = commands / len(result.events) / self.args.repeat
        ratio = statistics.median(r / o for r, o in zip(raw_runs, our_runs, strict=True))
        runs = count * self.args.repeat
        print(f"    CPU, this runtime: {our_cpu.per_task(runs)}", flush=True)
        print(f"    CPU, by hand:      {raw_cpu.per_task(runs)}", flush=True)
        return Row(
            f"{case} (tasks/s)",
            per_second(count, statistics.median(our_runs)),
            per_second(count, statistics.median(raw_runs)),
            f"{ratio:.2f}x",
            f"{len(result.events)} events, {per_event:.1f} Redis commands/event, "
            f"{redispatches(log) - resent} re-dispatched",
        )

    def loop(self, ours: Ours) -> Iterator[Row]:
        """``--repeat`` rounds of the Redis runtime, the in-process driver and moto, each
        round timed under the same conditions (a 2,000-transition run lasts a tenth of a
        second here: one run is mostly noise); medians, and the median of each round's
        ratio. Each run starts after a full garbage collection: moto leaves tens of
        thousands of objects in reference cycles, and the collection that frees them
        (100-400 ms) would otherwise land in whichever run comes next."""
        loops = self.args.loops
        count = 2 * loops
        redis_runs, local_runs, moto_runs, commands = [], [], [], 0
        for _ in range(self.args.repeat):
            gc.collect()
            before = ours.commands()
            seconds, result = ours.run(transitions.definition(loops), {"count": 0}, "loop")
            commands += ours.commands() - before
            assert result.output == {"count": loops}
            redis_runs.append(seconds)
            gc.collect()
            local_runs.append(transitions.run_ours(loops))
            gc.collect()
            moto_runs.append(transitions.run_moto(loops))
        per_event = commands / len(result.events) / self.args.repeat
        moto = statistics.median(moto_runs)
        for case, runs, note in (
            ("Redis", redis_runs, f"vs moto; {per_event:.2f} Redis commands/event"),
            ("in-process", local_runs, "vs moto"),
        ):
            ratio = statistics.median(m / o for m, o in zip(moto_runs, runs, strict=True))
            yield Row(
                f"Pass/Choice loop, {case} ({count} transitions/s)",
                per_second(count, statistics.median(runs)),
                per_second(count, moto),
                f"{ratio:.1f}x",
                note,
            )

    def starts(self, ours: Ours) -> Iterator[Row]:
        count, store = self.args.starts, ours.runtime.store
        ours.redis.memory_purge()
        memory = int(ours.redis.info("memory")["used_memory"])
        began = time.perf_counter()
        text = json.dumps(ONE_TASK)
        eids = [store_start(ours, text, n) for n in range(count)]
        started = time.perf_counter() - began
        for eid in eids:
            while store.status(eid) == "RUNNING":
                time.sleep(0.002)
        finished = time.perf_counter() - began
        events = history_events(ours, eids)
        ours.redis.memory_purge()
        grown = int(ours.redis.info("memory")["used_memory"]) - memory
        lists = sum(
            int(ours.redis.memory_usage(store.key(eid, "events"), samples=0) or 0) for eid in eids
        )
        yield Row(
            "executions started (one client)",
            per_second(count, started),
            "",
            "",
            f"all {count} finished in {finished:.2f} s",
        )
        yield Row(
            "Redis memory per history event",
            f"{grown / events:,.0f} B",
            "",
            "",
            f"{events} events; the history lists alone {lists / events:,.0f} B/event",
        )


def store_start(ours: Ours, text: str, number: int) -> str:
    return str(ours.runtime.start(text, {"n": number}, machine="starts", name=f"s-{number}"))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sfn-bench-") as temp, contextlib.ExitStack() as stack:
        folder = Path(temp)
        url = args.redis_url or stack.enter_context(own_redis(folder, args.aof))
        (folder / "benchrt_handlers").mkdir()
        (folder / "benchrt_handlers" / "noop.py").write_text(HANDLER)
        project_file = folder / "sfn.yaml"
        project_file.write_text(PROJECT)
        prefix = f"sfnbench-{uuid.uuid4().hex[:6]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SFN_", "REDIS_"))}
        env |= {
            "REDIS_URL": url,
            "SFN_PREFIX": prefix,
            "SFN_QUEUE": prefix,
            "SFN_CONFIG": str(project_file),
        }
        acks = "late acks" if args.raw_late_acks else "early acks (Celery's default)"
        print(
            f"Redis {url}; prefork, concurrency {args.concurrency}; {os.cpu_count()} CPUs; "
            f"prefetch multiplier {args.prefetch}; this runtime: late acks; raw Celery: {acks}"
        )
        bench = Bench(args, set(args.only or PARTS), url, env, folder)
        rows: list[Row] = []
        for row in bench.run():
            rows.append(row)
            print(f"  {row.case}: {row.ours} vs {row.theirs} {row.ratio}", flush=True)
        print()
        print_table(rows)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "raw-worker":
        raw_worker_main(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "late", int(sys.argv[5]))
    else:
        main()
