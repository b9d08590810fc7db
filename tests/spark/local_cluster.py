"""A Spark standalone cluster on 127.0.0.1, started from the PySpark distribution (issue 17).

PySpark's wheel has ``bin/spark-class`` and ``bin/spark-submit`` and the Thrift server's jar, but
no ``sbin/start-*.sh``: the master, one worker and the Spark Thrift Server (HiveServer2
protocol, ``HiveThriftServer2``) are started here directly, each in its own process group,
bound to loopback only, with their logs and state under one folder. :meth:`LocalCluster.stop`
stops exactly those process groups (the worker's executors are in the worker's group).

The catalog is the Thrift server's own (in memory): everything (dbt, the pipeline, the tests,
analysts) goes through the Thrift server, as it would to a production cluster whose catalog is
a Hive metastore. An embedded Derby metastore would do the same job at about 30 s more CPU for
the sample's run, and would admit one JVM only.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

# The PySpark distribution's folder, without importing PySpark (seconds of CPU, and a JVM
# gateway this module does not need).
SPARK_HOME = Path(importlib.util.find_spec("pyspark").submodule_search_locations[0])
THRIFT_SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"


def _end_with_parent() -> None:
    """In the child before exec: if the test process dies (even by SIGKILL), the kernel sends
    this one SIGTERM (spark-class execs the JVM, which keeps the setting)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LocalCluster:
    root: Path  # logs, the worker's folder, the catalog (warehouse dir and Derby metastore)
    worker_cores: int = 2
    worker_memory: str = "1536m"
    executor_memory: str = "1g"
    driver_memory: str = "1g"
    # The test cluster runs many small queries on little data: its CPU went to compiling
    # (the JIT's optimizing tier, Spark's generated code), not to running. Measured on the
    # sample's `welfare run`: 265 s of cluster CPU and 171 s wall with the defaults, 124 s and
    # 107 s with these (and 95 s and 88 s with the in-memory catalog); one task per stage
    # (shuffle partitions and parallelism 1), one compiler thread, no per-statement operation
    # logs and no JVM perf data: 120 s of cluster CPU → 108 s. Not advice for a production
    # cluster.
    java_options: str = (
        "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -XX:CICompilerCount=1"
    )
    small_data_confs: dict[str, str] = field(
        default_factory=lambda: {
            "spark.sql.codegen.wholeStage": "false",
            "spark.sql.codegen.factoryMode": "NO_CODEGEN",
            "spark.sql.adaptive.enabled": "false",
            "spark.sql.shuffle.partitions": "1",
            "spark.default.parallelism": "1",
            "spark.locality.wait": "0",
        }
    )
    master_port: int = field(default_factory=free_port)
    master_ui_port: int = field(default_factory=free_port)
    thrift_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    @property
    def warehouse_dir(self) -> Path:
        return self.root / "warehouse"

    def _environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "SPARK_HOME": str(SPARK_HOME),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOCAL_DIRS": str(self.root / "tmp"),
            "SPARK_WORKER_DIR": str(self.root / "worker"),
            "SPARK_NO_DAEMONIZE": "1",
            "SPARK_DAEMON_JAVA_OPTS": self.java_options,
        }

    def _start(self, name: str, command: list[str], **environment: str) -> None:
        log = (self.root / "logs" / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            command,
            cwd=self.root,
            env={**self._environment(), **environment},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole, alone
            preexec_fn=_end_with_parent,
        )
        log.close()

    def start(self, timeout: float = 180) -> LocalCluster:
        for folder in ("logs", "tmp", "worker", "warehouse"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        spark_class = str(SPARK_HOME / "bin" / "spark-class")
        try:
            self._start(
                "master",
                [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                 "--port", str(self.master_port), "--webui-port", str(self.master_ui_port)],
                SPARK_DAEMON_MEMORY="256m",  # it only schedules
            )  # fmt: skip
            self._wait(lambda: self._port_open(self.master_port), "master", timeout)
            self._start(
                "worker",
                [spark_class, "org.apache.spark.deploy.worker.Worker", self.master_url,
                 "--host", "127.0.0.1", "--webui-port", str(free_port()),
                 "--cores", str(self.worker_cores), "--memory", self.worker_memory,
                 "--work-dir", str(self.root / "worker")],
                SPARK_DAEMON_MEMORY="256m",  # its executors have their own JVMs
            )  # fmt: skip
            self._wait(self._worker_alive, "worker", timeout)
            self._start("thriftserver", self._thrift_command())
            self._wait(self._thrift_answers, "Thrift server", timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _thrift_command(self) -> list[str]:
        confs = {
            "spark.ui.enabled": "false",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.memory": self.driver_memory,
            "spark.executor.memory": self.executor_memory,
            "spark.cores.max": str(self.worker_cores),
            **self.small_data_confs,
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.warehouse.dir": self.warehouse_dir.as_uri(),
            "spark.sql.catalogImplementation": "in-memory",
            "spark.driver.extraJavaOptions": self.java_options,
            "spark.executor.extraJavaOptions": self.java_options,
        }
        command = [
            str(SPARK_HOME / "bin" / "spark-submit"),
            "--class", THRIFT_SERVER_CLASS,
            "--master", self.master_url,
            "--name", "welfare-warehouse-thriftserver",
        ]  # fmt: skip
        for key, value in confs.items():
            command += ["--conf", f"{key}={value}"]
        command += [
            "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
            "--hiveconf", "hive.server2.logging.operation.enabled=false",
            "--hiveconf", f"hive.server2.thrift.port={self.thrift_port}",
            # Each session's folder here, not an empty <session>_resources left in /tmp.
            "--hiveconf",
            f"hive.downloaded.resources.dir={self.root / 'hive'}/${{hive.session.id}}_resources",
            "spark-internal",
        ]  # fmt: skip
        return command

    def _wait(self, ready, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"Spark {name} exited ({process.returncode}) before the {what} was "
                        f"ready: see {self.root / 'logs' / (name + '.log')}"
                    )
            if ready():
                return
            time.sleep(0.5)
        raise TimeoutError(f"Spark {what} not ready after {timeout:.0f} s: see {self.root}/logs")

    @staticmethod
    def _port_open(port: int) -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            return probe.connect_ex(("127.0.0.1", port)) == 0

    def _worker_alive(self) -> bool:
        url = f"http://127.0.0.1:{self.master_ui_port}/json/"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # loopback only
                status = json.load(response)
        except OSError:
            return False
        return any(worker.get("state") == "ALIVE" for worker in status.get("workers", []))

    def _thrift_answers(self) -> bool:
        if not self._port_open(self.thrift_port):
            return False
        from pyhive import hive

        try:
            connection = hive.connect("127.0.0.1", port=self.thrift_port, username="welfare")
            try:
                cursor = connection.cursor()
                cursor.execute("select 1")
                return cursor.fetchall() == [(1,)]
            finally:
                connection.close()
        except Exception:  # not up yet: the port opens before sessions are served
            return False

    def usage(self) -> dict[str, dict[str, float]]:
        """Resident memory (MiB) and CPU time (s) so far of each started process group (the
        worker's includes its executors)."""
        ticks, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
        usage = {name: {"memory_mib": 0.0, "cpu_seconds": 0.0} for name in self.processes}
        groups = {process.pid: name for name, process in self.processes.items()}
        for status in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = status.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            name = groups.get(int(fields[2]))  # process group id
            if name:
                usage[name]["memory_mib"] += int(fields[21]) * page / 2**20
                usage[name]["cpu_seconds"] += (int(fields[11]) + int(fields[12])) / ticks
        return usage

    def stop(self, grace: float = 20) -> None:
        """Stop the process groups this object started (newest first), nothing else."""
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(grace)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            # Executors started by the worker share its group and may outlive it briefly.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()


def main() -> None:
    """`make spark-cluster`: a test cluster to try WELFARE_ENGINE=spark by hand."""
    import sys
    import tempfile

    root = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="spark-cluster-"))
    cluster = LocalCluster(root, thrift_port=int(os.environ.get("WELFARE_SPARK_PORT", 10000)))
    print(f"Starting a Spark master, worker and Thrift server under {root} ...", flush=True)
    cluster.start()
    print(
        f"Ready. In another shell:\n  export WELFARE_ENGINE=spark "
        f"WELFARE_SPARK_PORT={cluster.thrift_port}\n  make run-spark\n"
        f"Analysts: beeline -u jdbc:hive2://127.0.0.1:{cluster.thrift_port} -n welfare\n"
        "Ctrl-C stops the cluster.",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while all(process.poll() is None for process in cluster.processes.values()):
            time.sleep(1)
        print("A cluster process ended: see the logs under", root, file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
