"""The production topology for tests: nginx in front of gunicorn instances.

nginx runs in the foreground with a generated config in a temporary folder (its pid file,
logs and temp files there too), on a free 127.0.0.1 port, and is stopped (SIGQUIT, wait)
on exit."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

# Why each line is there; README's production section points here as the model.
CONFIG = """\
{user}worker_processes 1;
error_log {tmp}/error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log {tmp}/access.log;
  client_body_temp_path {tmp}/client_body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;

  upstream portal {{
    # A dead instance is left alone for 10 s after one failure, then tried again.
{servers}
  }}

  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://portal;
      # The app trusts exactly one proxy (PORTAL_PROXIES=1): ProxyFix takes the last
      # X-Forwarded-For entry, the address nginx saw, so a client cannot forge its own.
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header Host $http_host;
      proxy_connect_timeout 2s;
      proxy_read_timeout 60s;
      # Which failures go to the other instance. GET, HEAD: any connection error or timeout
      # and a 502/503 (an instance restarting), at most once more (tries 2). POST: nginx
      # (>= 1.9.13) passes a non-idempotent request to the next server only if it could not
      # be sent at all (connection refused: nothing happened, so a retry is safe); once a POST
      # was sent, the instance may have committed it before dying, so nginx answers 502 and
      # the person (or the page) sends it again. We deliberately do NOT add `non_idempotent`:
      # forms that move hours carry a one-time key and would survive a re-send, but login,
      # registration and others are not keyed, and nginx cannot tell them apart.
      proxy_next_upstream error timeout http_502 http_503;
      proxy_next_upstream_tries 2;
    }}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Nginx:
    process: subprocess.Popen[bytes]
    url: str
    folder: Path

    @property
    def access_log(self) -> Path:
        return self.folder / "access.log"

    def error_log_tail(self, chars: int = 4000) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


@contextmanager
def nginx(upstreams: Sequence[str], folder: Path) -> Iterator[Nginx]:
    """nginx on a free port proxying to `upstreams` ("http://127.0.0.1:port" each)."""
    port = free_port()
    servers = "\n".join(
        f"    server {url.removeprefix('http://')} max_fails=1 fail_timeout=10s;"
        for url in upstreams
    )
    # As root nginx's workers would switch to `nobody`, who cannot write our temp folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    conf.write_text(CONFIG.format(user=user, tmp=folder, servers=servers, port=port))
    log = (folder / "nginx.out").open("wb")
    process = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(conf), "-g", f"daemon off; pid {folder}/nginx.pid;"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    proxy = Nginx(process, f"http://127.0.0.1:{port}", folder)
    try:
        _wait_up(proxy)
        yield proxy
    finally:
        log.close()
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.wait()


def _wait_up(proxy: Nginx, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proxy.process.poll() is not None:
            out = (proxy.folder / "nginx.out").read_text(errors="replace")
            raise RuntimeError(f"nginx exited early:\n{out}\n{proxy.error_log_tail()}")
        try:
            with requests.get(f"{proxy.url}/healthz", timeout=2) as response:
                if response.status_code == 200:
                    return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"nginx not answering after {timeout}s:\n{proxy.error_log_tail()}")


class FromAddress(HTTPAdapter):
    """Connect from a given loopback address (127.0.0.2, …): a different client machine, as
    far as nginx and X-Forwarded-For can tell."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client_at(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session
