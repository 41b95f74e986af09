"""deploy/nginx/sparky.conf made runnable on loopback by an unprivileged test: free ports instead of
80/443/3000, a self-signed certificate (openssl) in place of Let's Encrypt's, and a main nginx.conf
around it that keeps every file in one temp prefix. Nothing else of the site is changed."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.deploy.conftest import DEPLOY

SITE = DEPLOY / "nginx" / "sparky.conf"
DOMAIN = "sparky.example.com"
ACME_TOKEN = "test-token-4u7Yx"
#: a generous bound on nginx starting (a fraction of a second here)
WAIT_SEC = 30


@dataclass(frozen=True)
class Site:
    prefix: Path
    http_port: int
    https_port: int
    certificate: Path

    @property
    def config(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"sparky.conf should hold {old!r} once"
    return text.replace(old, new)


def render_site(*, http_port: int, https_port: int, upstream_port: int, certificates: Path, webroot: Path) -> str:
    text = SITE.read_text()
    text = replace_once(text, "server 127.0.0.1:3000;", f"server 127.0.0.1:{upstream_port};")
    text = replace_once(text, "listen 80;", f"listen 127.0.0.1:{http_port};")
    text = replace_once(text, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    # loopback IPv4 only: a test machine may have no IPv6
    text = replace_once(text, "    listen [::]:80;\n", "")
    text = replace_once(text, "    listen [::]:443 ssl;\n", "")
    letsencrypt = f"/etc/letsencrypt/live/{DOMAIN}/"
    assert text.count(letsencrypt) == 2, f"sparky.conf should name {letsencrypt} for the certificate and the key"
    text = text.replace(letsencrypt, f"{certificates}/")
    return replace_once(text, "root /var/www/certbot;", f"root {webroot};")


def main_config(prefix: Path, nginx: str) -> str:
    """The http block holding the site, and every path nginx writes inside `prefix`."""
    built = subprocess.run([nginx, "-V"], capture_output=True, text=True, timeout=30).stderr
    temp_paths = [f"client_body_temp_path {prefix}/body;", f"proxy_temp_path {prefix}/proxy;"]
    temp_paths += [f"{module}_temp_path {prefix}/{module};" for module in ("fastcgi", "uwsgi", "scgi")
                   if f"--without-http_{module}_module" not in built]
    return "\n".join([
        "worker_processes 1;", "daemon off;", f"pid {prefix}/nginx.pid;", f"error_log {prefix}/error.log;",
        "events { worker_connections 64; }",
        "http {", f"    access_log {prefix}/access.log;", *(f"    {line}" for line in temp_paths),
        f"    include {prefix}/sparky.conf;", "}", ""])


def make_certificate(openssl: str, directory: Path) -> Path:
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", f"/CN={DOMAIN}", "-addext", f"subjectAltName=DNS:{DOMAIN},IP:127.0.0.1",
                    "-keyout", str(directory / "privkey.pem"), "-out", str(directory / "fullchain.pem")],
                   check=True, capture_output=True, timeout=60)
    return directory / "fullchain.pem"


def prepare(nginx: str, openssl: str, *, upstream_port: int, http_port: int, https_port: int) -> Site:
    # a directory nginx's workers can enter: run as root, they are `nobody`, and pytest's dirs are 0700
    prefix = Path(tempfile.mkdtemp(prefix="sparky-nginx-"))
    os.chmod(prefix, 0o755)
    certificates, webroot = prefix / "certs", prefix / "webroot"
    challenge = webroot / ".well-known" / "acme-challenge"
    certificates.mkdir()
    challenge.mkdir(parents=True)
    (challenge / ACME_TOKEN).write_text(f"{ACME_TOKEN}.key-authorization")
    for path in (webroot, webroot / ".well-known", challenge, challenge / ACME_TOKEN):
        path.chmod(0o755 if path.is_dir() else 0o644)
    certificate = make_certificate(openssl, certificates)
    (prefix / "sparky.conf").write_text(render_site(http_port=http_port, https_port=https_port,
                                                    upstream_port=upstream_port, certificates=certificates,
                                                    webroot=webroot))
    site = Site(prefix, http_port, https_port, certificate)
    site.config.write_text(main_config(prefix, nginx))
    return site


def arguments(site: Site) -> list[str]:
    return ["-p", str(site.prefix), "-c", str(site.config), "-e", str(site.prefix / "error.log")]


def check(nginx: str, site: Site) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the rendered configuration."""
    return subprocess.run([nginx, "-t", *arguments(site)], capture_output=True, text=True, timeout=60)


@contextmanager
def running(nginx: str, site: Site) -> Iterator[Site]:
    process = subprocess.Popen([nginx, *arguments(site)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT_SEC
        while True:
            try:
                httpx.get(f"{site.http}/", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    _, printed = process.communicate(timeout=30)
                    log = site.prefix / "error.log"
                    raise AssertionError(f"nginx did not start: {printed}{log.read_text() if log.exists() else ''}") \
                        from None
                time.sleep(0.1)  # polling a port that is not open yet
        yield site
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stderr:
            process.stderr.close()
