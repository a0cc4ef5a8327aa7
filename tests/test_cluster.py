"""Analysis on a Dask cluster: a real `dask scheduler` and `dask worker` processes on 127.0.0.1.

Results must equal a local run byte for byte (same inputs, same JSON), a
capture that fails is reported while the rest complete, a worker killed in the
middle of a capture has that capture analysed again elsewhere, `file://` URLs
are read by the workers, and `doctor --cluster` names what a worker lacks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from tests.daskproc import START_LIMIT_S, DaskProcesses, dask_cluster, session_of, tsharks_in_session

ROOT = Path(__file__).resolve().parent.parent
GOOD = ("486-busy-inbound", "healthy-call", "media-loss", "cancel-487", "concurrent-calls", "404-not-found")
SLOW_COPIES = 80  # the media-loss fixture this many times in one capture: long enough to be caught running
SLOW_CAPTURES = 4


def sipdiag(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "sipdiag_post", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False, env=env)
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture(scope="module")
def cluster(tshark, tmp_path_factory):
    with dask_cluster(tmp_path_factory.mktemp("dask"), workers=2) as procs:
        yield procs


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("batch")
    for name in GOOD:
        (folder / name).mkdir()
        shutil.copy(ROOT / "fixtures" / name / "capture.pcap", folder / name / "capture.pcap")
    (folder / "empty.pcap").write_bytes(b"")
    (folder / "notes.pcap").write_text("not a capture, only words\n" * 4)
    return folder


@pytest.fixture(scope="module")
def local(batch) -> subprocess.CompletedProcess[str]:
    """The batch analysed on this machine, one capture at a time."""
    return sipdiag("analyze", str(batch), "--format", "json", "--jobs", "1")


def test_results_equal_a_local_run_and_a_failing_capture_does_not_stop_the_rest(cluster, batch, local):
    remote = sipdiag("analyze", str(batch), "--format", "json", "--cluster", cluster.address)
    # two unreadable captures are reported as errors; the code is what the readable ones earn
    assert remote.returncode == local.returncode == 1
    assert remote.stdout == local.stdout
    assert remote.stderr == local.stderr and len(remote.stderr.splitlines()) == 2
    report = json.loads(remote.stdout)
    statuses = sorted(c["status"] for c in report["captures"])
    assert statuses == ["error", "error"] + ["ok"] * len(GOOD)
    assert sum(len(c["calls"]) for c in report["captures"]) > len(GOOD)  # concurrent-calls has several


def test_the_cluster_address_can_come_from_the_environment(cluster, batch):
    env = dict(os.environ, SIPDIAG_CLUSTER=cluster.address)
    done = sipdiag("analyze", str(batch / "486-busy-inbound"), "--format", "json", env=env)
    assert done.returncode == 1
    assert json.loads(done.stdout)["captures"][0]["calls"][0]["final_status"] == 486


def test_file_urls_are_read_by_the_workers(cluster, batch):
    url = (batch / "media-loss" / "capture.pcap").as_uri()
    folder_url = (batch / "healthy-call").as_uri() + "/"
    missing = (batch / "nothing.pcap").as_uri()
    done = sipdiag("analyze", url, folder_url, missing, "--format", "json", "--cluster", cluster.address)
    assert done.returncode == 1  # media-loss fails; the missing capture is reported, not the code
    captures = json.loads(done.stdout)["captures"]
    assert [c["path"] for c in captures] == [url, folder_url + "capture.pcap", missing]
    assert captures[2]["status"] == "error" and captures[2]["error"] == f"{missing}: no such file or object"
    assert done.stderr == f"sipdiag: {missing}: no such file or object\n"
    local = json.loads(sipdiag("analyze", str(batch / "media-loss" / "capture.pcap"), str(batch / "healthy-call"),
                               "--format", "json").stdout)["captures"]
    for remote, here in zip(captures, local, strict=False):
        assert {**remote, "path": ""} == {**here, "path": ""}


def test_s3_urls_through_an_s3_compatible_server(batch, tmp_path):
    """s3:// through s3fs, against moto's S3 server on 127.0.0.1 (MinIO's server is in none of the package
    registries this project installs from); the local cluster's workers inherit the endpoint and keys."""
    pytest.importorskip("s3fs")
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="test",
                          aws_secret_access_key="test", region_name="us-east-1")
        s3.create_bucket(Bucket="captures")
        for name in GOOD[:3]:
            s3.upload_file(str(batch / name / "capture.pcap"), "captures", f"day/{name}.pcap")
        missing = "s3://captures/day/missing.pcap"
        done = sipdiag("analyze", "s3://captures/day/", missing, "--format", "json", "--cluster", "local:1", env=env)
    finally:
        server.stop()
    assert done.stderr == f"sipdiag: {missing}: no such file or object\n"
    captures = json.loads(done.stdout)["captures"]
    assert [c["path"] for c in captures] == [f"s3://captures/day/{n}.pcap" for n in sorted(GOOD[:3])] + [missing]
    here = sipdiag("analyze", *[str(batch / n / "capture.pcap") for n in sorted(GOOD[:3])], "--format", "json")
    assert done.returncode == here.returncode  # the missing capture does not change the code
    local = json.loads(here.stdout)["captures"]
    assert [{**c, "path": ""} for c in captures[:3]] == [{**c, "path": ""} for c in local]


def test_json_lines_one_file_per_capture_hold_the_local_runs_objects(cluster, batch, local, tmp_path):
    out = tmp_path / "out"
    done = sipdiag("analyze", str(batch), "--format", "jsonl", "-o", str(out), "--cluster", cluster.address)
    assert done.returncode == local.returncode and done.stdout == ""
    files = sorted(out.iterdir())
    assert [f.name for f in files] == sorted([f"{name}__capture.pcap.jsonl" for name in GOOD]
                                             + ["empty.pcap.jsonl", "notes.pcap.jsonl"])
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert [line["type"] for line in lines].count("summary") == len(files)  # each file's own
    document = json.loads(local.stdout)
    calls = sorted((c["path"], json.dumps(call)) for c in document["captures"] for call in c["calls"])
    assert calls == sorted((line["capture"], json.dumps({k: v for k, v in line.items() if k not in
                                                         ("type", "capture", "start_time", "duration_s")}))
                           for line in lines if line["type"] == "call")
    captures = sorted(json.dumps({**c, "calls": None}) for c in document["captures"])
    assert captures == sorted(json.dumps({**{k: v for k, v in line.items() if k not in ("type", "start_time")},
                                          "calls": None}) for line in lines if line["type"] == "capture")


def test_continuous_windows_on_the_cluster_equal_the_local_run(cluster, tmp_path):
    from tests.test_continuous import continuous_args, rotated

    parts = rotated(tmp_path)
    local = sipdiag(*continuous_args(parts, "20"), "--jobs", "1")
    remote = sipdiag(*continuous_args(parts, "20"), "--cluster", cluster.address)
    assert remote.returncode == local.returncode == 1
    assert remote.stdout == local.stdout
    assert [len(c["calls"]) for c in json.loads(remote.stdout)["captures"]] == [1, 1, 0]


def test_doctor_names_what_each_worker_lacks(cluster, tmp_path):
    fine = sipdiag("doctor", "--cluster", cluster.address)
    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert fine.stdout.count(": ok [sipdiag ") == 2
    broken = cluster.start_worker("no-tshark", env=dict(os.environ, SIPDIAG_TSHARK=str(tmp_path / "no-tshark")))
    try:
        cluster.wait_for_workers(3)
        done = sipdiag("doctor", "--cluster", cluster.address)
        assert done.returncode == 4
        lines = done.stdout.splitlines()
        assert lines[0].startswith(f"cluster {cluster.address}: 3 worker(s)")
        bad = [line for line in lines if "MISSING" in line]
        assert len(bad) == 1 and "tshark: cannot run tshark at" in bad[0] and "no-tshark" in bad[0]
        assert sum(": ok [" in line for line in lines) == 2
        # analysing with it there: it takes captures and fails at once, and they go to the other workers
        many = tmp_path / "many"
        many.mkdir()
        for i in range(12):
            os.link(ROOT / "fixtures/486-busy-inbound/capture.pcap", many / f"busy-{i:02}.pcap")
        local = sipdiag("analyze", str(many), "--format", "json", "--jobs", "1")
        remote = sipdiag("analyze", str(many), "--format", "json", "--cluster", cluster.address)
        assert remote.stdout == local.stdout and remote.returncode == local.returncode == 1
        notes = remote.stderr.splitlines()
        assert len(notes) == 1 and all("no-tshark" in n and n.endswith("other workers took its captures")
                                       for n in notes)
    finally:
        DaskProcesses.stop(broken)
        cluster.wait_for_workers(2)


@pytest.fixture(scope="module")
def slow_batch(tshark, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("slow")
    plain = base / "media.pcap"
    subprocess.run(["editcap", "-F", "pcap", str(ROOT / "fixtures/media-loss/capture.pcap"), str(plain)],
                   check=True, capture_output=True)
    folder = base / "batch"
    folder.mkdir()
    big = folder / "slow-0.pcap"
    subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", str(big), *[str(plain)] * SLOW_COPIES], check=True)
    for i in range(1, SLOW_CAPTURES):
        os.link(big, folder / f"slow-{i}.pcap")
    return folder


def _wait_for_tshark(session: int, process: subprocess.Popen[str]) -> list[tuple[int, str]]:
    deadline = time.monotonic() + START_LIMIT_S
    while not (found := [t for t in tsharks_in_session(session) if "lua_script:" in t[1]]):  # the tap, not -v
        assert process.poll() is None, "the run ended before a tshark ran on the watched worker"
        assert time.monotonic() < deadline, "no tshark ran on the watched worker"
        time.sleep(0.01)
    return found


def test_a_worker_killed_mid_capture_has_its_capture_analysed_elsewhere(cluster, slow_batch):
    folders = _run_folders()
    doomed = cluster.start_worker("doomed")
    cluster.wait_for_workers(3)
    session = session_of(doomed.pid)
    assert session is not None
    run = subprocess.Popen([sys.executable, "-m", "sipdiag_post", "analyze", str(slow_batch), "--format", "json",
                            "--cluster", cluster.address], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        running = _wait_for_tshark(session, run)
        DaskProcesses.stop(doomed, signal.SIGKILL)  # the worker, its nanny and its tshark, mid-capture
        stdout, stderr = run.communicate()
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
        DaskProcesses.stop(doomed, signal.SIGKILL)
        for left in _run_folders() - folders:  # a worker killed with SIGKILL cannot remove its files
            shutil.rmtree(left, ignore_errors=True)
    assert "Traceback" not in stderr and stderr == ""
    captures = json.loads(stdout)["captures"]
    killed = next(c for c in captures if c["path"] in running[0][1])
    assert [c["status"] for c in captures] == ["ok"] * SLOW_CAPTURES
    here = sipdiag("analyze", killed["path"], "--format", "json")
    local = json.loads(here.stdout)["captures"][0]
    assert killed == local and run.returncode == here.returncode
    assert all(c["calls"] == local["calls"] for c in captures)  # the same capture each time
    cluster.wait_for_workers(2)


def _run_folders() -> set[Path]:
    import tempfile

    return set(Path(tempfile.gettempdir()).glob("sipdiag-run-*"))


def test_ctrl_c_cancels_the_cluster_tasks(cluster, slow_batch, tmp_path):
    many = tmp_path / "many"
    many.mkdir()
    for i in range(40):
        os.link(slow_batch / "slow-0.pcap", many / f"slow-{i:02}.pcap")
    sessions = [session_of(p.pid) for p in cluster.processes[1:3]]
    folders = _run_folders()
    run = subprocess.Popen([sys.executable, "-m", "sipdiag_post", "analyze", str(many), "--format", "json",
                            "--cluster", cluster.address], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        _wait_for_tshark(sessions[0], run)
        run.send_signal(signal.SIGINT)
        stdout, stderr = run.communicate()
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 130 and stdout == ""
    assert stderr == "sipdiag: interrupted\n"
    from distributed import Client

    with Client(cluster.address, timeout=30, set_as_default=False) as client:
        deadline = time.monotonic() + START_LIMIT_S
        while (client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
               or any(tsharks_in_session(s) for s in sessions if s)):
            assert time.monotonic() < deadline, "the cancelled run's tasks are still on the cluster"
            time.sleep(0.1)
        while not _run_folders() <= folders:  # the workers remove the run's files
            assert time.monotonic() < deadline, f"left: {_run_folders() - folders}"
            time.sleep(0.1)


def test_ctrl_c_in_a_terminal_stops_a_local_cluster(slow_batch):
    """Ctrl-C goes to the terminal's whole process group: sipdiag and the local cluster's worker processes."""
    folders = _run_folders()
    run = subprocess.Popen([sys.executable, "-m", "sipdiag_post", "analyze", str(slow_batch), "--format", "json",
                            "--cluster", "local:2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, start_new_session=True)
    try:
        _wait_for_tshark(run.pid, run)
        os.killpg(run.pid, signal.SIGINT)
        stdout, stderr = run.communicate()
        assert run.returncode == 130 and stdout == ""
        assert stderr == "sipdiag: interrupted\n"  # no worker's traceback
        deadline = time.monotonic() + START_LIMIT_S
        while _session_alive(run.pid):
            assert time.monotonic() < deadline, "processes of the run are left"
            time.sleep(0.1)
        assert _run_folders() <= folders
    finally:
        DaskProcesses.stop(run)


def _session_alive(session: int) -> bool:
    return any(session_of(int(p.name)) == session for p in Path("/proc").iterdir() if p.name.isdigit())


def test_a_cluster_that_cannot_be_reached_is_one_line_and_exit_code_4(batch):
    done = sipdiag("analyze", str(batch / "healthy-call"), "--cluster", "tcp://127.0.0.1:9")
    assert done.returncode == 4
    assert done.stderr.startswith("sipdiag: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert len(done.stderr.splitlines()) == 1
    bad = sipdiag("analyze", str(batch / "healthy-call"), "--cluster", "somewhere")
    assert bad.returncode == 2 and "expected tcp://HOST:PORT" in bad.stderr


_BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'dask', 'distributed', 'fsspec', 'pyarrow'}:
            raise ImportError(f'No module named {name!r}')
sys.meta_path.insert(0, Block())
from sipdiag_post.__main__ import run
sys.argv = ['sipdiag', *sys.argv[1:]]
run()
"""


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--cluster", "local:1"], 4, "sipdiag: error: --cluster needs Dask: pip install 'sipdiag[cluster]'\n"),
    (["--format", "parquet", "-o", "OUT"], 4,
     "sipdiag: error: --format parquet needs pyarrow: pip install 'sipdiag[parquet]'\n"),
    (["URL"], 3, "sipdiag: {url}: captures named by URL need fsspec: pip install 'sipdiag[cluster]'\n"),
])
def test_without_the_optional_packages_sipdiag_works_and_says_what_to_install(tshark, tmp_path, args, code, message):
    capture = ROOT / "fixtures/healthy-call/capture.pcap"
    url = capture.as_uri()
    inputs = [] if "URL" in args else [str(capture)]
    args = [url if a == "URL" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    plain = subprocess.run([sys.executable, "-c", _BLOCK, "analyze", str(capture)], cwd=ROOT, capture_output=True,
                           text=True)
    assert plain.returncode == 0 and "healthy-call" in plain.stdout
    done = subprocess.run([sys.executable, "-c", _BLOCK, "analyze", *inputs, *args], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == code
    assert done.stderr == message.format(url=url)


def test_the_doctor_probe_runs_where_sipdiag_is_missing():
    import cloudpickle

    from sipdiag_post import probe

    cloudpickle.register_pickle_by_value(probe)
    try:
        payload = cloudpickle.dumps(probe.probe)
    finally:
        cloudpickle.unregister_pickle_by_value(probe)
    code = ("import sys, pickle\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'sipdiag_post': raise ImportError('No module named sipdiag_post')\n"
            "sys.meta_path.insert(0, Block())\n"
            "print(pickle.loads(sys.stdin.buffer.read())('0.1.0', None)['problems'])\n")
    done = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, cwd="/")
    assert done.returncode == 0, done.stderr
    assert b"sipdiag is not installed" in done.stdout


def test_cluster_addresses():
    from sipdiag_post.cluster import Cluster, parse_cluster

    assert parse_cluster("tcp://10.1.2.3:8786") == Cluster("tcp://10.1.2.3:8786")
    assert parse_cluster("sched.example:8786") == Cluster("tcp://sched.example:8786")
    assert parse_cluster("local:3") == Cluster(None, 3)
    assert parse_cluster("local", cores=2) == Cluster(None, 2)
    for bad in ("local:0", "http://x:1", "tcp://x", "x"):
        with pytest.raises(ValueError):
            parse_cluster(bad)
