"""SeaweedFS for the benchmarks: `weed server` with its filer and S3 gateway
on 127.0.0.1, started as gomodfs-testkit's seaweed.rs starts it for the tests.

Not `weed mini`: it refuses every write once the disk has less than 1% free
(its writes then fail after 30 s with a 500); here the floor is 64 MiB and
the volume count is fixed.
"""

import http.client
import socket
import subprocess
import time

from run import _port_open


def free_port():
    """A free port below 55000 whose gRPC companion (port + 10000) is free."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 55000:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            pass


def start(weed, data, bucket, env, log, timeout=180):
    """Starts weed with its data in `data` (created), credentials from `env`
    (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and its output to file object
    `log`; creates `bucket` and waits until the S3 port takes connections.
    Returns (process, S3 endpoint URL); raises RuntimeError when it does not
    start within `timeout` seconds."""
    data.mkdir(parents=True, exist_ok=True)
    master, volume, filer, s3 = (free_port() for _ in range(4))
    proc = subprocess.Popen(
        [str(weed), "server", "-filer", "-s3", f"-dir={data}", "-ip=127.0.0.1",
         "-ip.bind=127.0.0.1", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
         "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=100",
         "-volume.minFreeSpace=64MiB", f"-master.port={master}", f"-volume.port={volume}",
         f"-filer.port={filer}", f"-s3.port={s3}"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + timeout

    def alive():
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"weed did not start (log: {getattr(log, 'name', log)})")

    # The bucket is a directory under the filer's /buckets (no Content-Type:
    # the filer takes a POST with one for an upload); the filer answers 500
    # until it has found the master.
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", filer, timeout=40)
            conn.request("POST", f"/buckets/{bucket}/", body=b"")
            status = conn.getresponse().status
            conn.close()
            if 200 <= status < 300 or status == 409:
                break
        except OSError:
            pass
        alive()
        time.sleep(0.2)
    while not _port_open(s3):
        alive()
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{s3}"
