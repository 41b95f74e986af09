"""deploy/nginx/sparky.conf: `nginx -t`, then a real nginx on loopback in front of a real `sparky serve`
(FORWARDED_ALLOW_IPS=127.0.0.1, ALLOWED_IPS=tradingview plus one test address): the sender Sparky sees
is the address that connected to nginx, whatever X-Forwarded-For it sent; HTTP is redirected to HTTPS
but for Let's Encrypt's challenge; the operator endpoints answer only nginx's allow list.

Clients connect from several loopback addresses (127.0.0.1, .2, .3: all of 127/8 is this machine) to
stand for different senders."""

from __future__ import annotations

import re
import shutil
import ssl
from collections.abc import Iterator
from typing import NamedTuple

import httpx
import pytest

from sparky.config import Settings
from tests.deploy.conftest import tool
from tests.deploy.nginx_site import ACME_TOKEN, DOMAIN, SITE, Site, check, prepare, running
from tests.e2e.test_serve import free_port
from tests.e2e.test_serve_source_ips import CLOSE, serve

NGINX_HOW = "Debian package nginx-light; scripts/nginx-for-tests.sh installs it"
OPENSSL_HOW = "Debian package openssl; scripts/nginx-for-tests.sh installs it"
ADMIN_TOKEN = "nginx-test-admin-token-51c0ffee"
TRADINGVIEW = "52.89.214.238"
#: a sender ALLOWED_IPS lets in, and one it does not
ALLOWED, STRANGER = "127.0.0.2", "127.0.0.3"
#: Sparky's MAX_BODY_BYTES unless set
BODY_LIMIT = Settings.model_fields["max_body_bytes"].default


def directives(text: str) -> str:
    """The configuration without its comments."""
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def block(text: str, opening: str) -> str:
    match = re.search(re.escape(opening) + r"\s*\{(.*?)\n\s*\}", text, re.S)
    assert match, f"no {opening} block"
    return match.group(1)


def test_the_site_passes_nginx_t() -> None:
    nginx, openssl = tool("nginx", env="SPARKY_TEST_NGINX", how=NGINX_HOW), tool("openssl", how=OPENSSL_HOW)
    site = prepare(nginx, openssl, upstream_port=free_port(), http_port=free_port(), https_port=free_port())
    try:
        result = check(nginx, site)
    finally:
        shutil.rmtree(site.prefix)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr
    assert "[warn]" not in result.stderr


def test_the_site_replaces_the_forwarded_address_limits_bodies_as_sparky_and_answers_within_3_s() -> None:
    config = directives(SITE.read_text())
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in config
    assert "$proxy_add_x_forwarded_for" not in config  # it would pass a client's own value on
    assert re.search(r"client_max_body_size (\d+)k;", config).group(1) == str(BODY_LIMIT // 1024)
    webhook = block(config, "location = /webhook")
    timeouts = re.findall(r"proxy_(?:connect|send|read)_timeout (\d+)(ms|s);", webhook)
    assert len(timeouts) == 3
    assert all(int(value) * (1 if unit == "ms" else 1000) < 3000 for value, unit in timeouts)


class Stack(NamedTuple):
    site: Site
    sparky: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    nginx, openssl = tool("nginx", env="SPARKY_TEST_NGINX", how=NGINX_HOW), tool("openssl", how=OPENSSL_HOW)
    data_dir = tmp_path_factory.mktemp("nginx-sparky") / "data"
    with serve(data_dir, ALLOWED_IPS=f"tradingview,{ALLOWED}", FORWARDED_ALLOW_IPS="127.0.0.1",
               ADMIN_TOKEN=ADMIN_TOKEN) as url:
        site = prepare(nginx, openssl, upstream_port=int(url.rsplit(":", 1)[1]), http_port=free_port(),
                       https_port=free_port())
        try:
            with running(nginx, site):
                yield Stack(site, url)
        finally:
            shutil.rmtree(site.prefix)


def https_client(site: Site, source: str) -> httpx.Client:
    """A client of nginx's TLS port connecting from `source`, trusting the test's certificate."""
    context = ssl.create_default_context(cafile=str(site.certificate))
    return httpx.Client(base_url=site.https, timeout=10,
                        transport=httpx.HTTPTransport(verify=context, local_address=source))


def test_a_forged_tradingview_address_from_loopback_is_not_believed(stack: Stack) -> None:
    with https_client(stack.site, "127.0.0.1") as client:
        response = client.post("/webhook", json=CLOSE, headers={"X-Forwarded-For": TRADINGVIEW})
    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden: 127.0.0.1 may not send webhooks to this server"


def test_sparky_sees_the_address_that_connected_to_nginx(stack: Stack) -> None:
    with https_client(stack.site, ALLOWED) as client:
        allowed = client.post("/webhook", json=CLOSE, headers={"X-Forwarded-For": TRADINGVIEW})
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["success"] is True
    with https_client(stack.site, STRANGER) as client:
        stranger = client.post("/webhook", json=CLOSE, headers={"X-Forwarded-For": f"{TRADINGVIEW}, {ALLOWED}"})
    assert stranger.status_code == 403
    assert stranger.json()["error"] == f"Forbidden: {STRANGER} may not send webhooks to this server"


def test_operator_endpoints_answer_only_nginxs_allow_list(stack: Stack) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with https_client(stack.site, ALLOWED) as client:
        refused = {path: client.request(method, path, headers=admin)
                   for method, path in [("GET", "/positions"), ("POST", "/positions/sync"), ("GET", "/webhook/abc"),
                                        ("POST", "/strategies/reload"), ("POST", "/api/strategies/reload"),
                                        ("GET", "/exchanges"), ("GET", "/docs"), ("GET", "/openapi.json")]}
        health, ready = client.get("/health"), client.get("/health/ready")
    # nginx's own page: the request never reached Sparky, valid token or not
    assert {path: (r.status_code, r.headers["content-type"]) for path, r in refused.items()} == {
        path: (403, "text/html") for path in refused}
    assert (health.status_code, health.json()["status"]) == (200, "ok")
    assert ready.status_code == 200
    with https_client(stack.site, "127.0.0.1") as client:
        positions = client.get("/positions", headers=admin)
    assert positions.status_code == 200, positions.text


def test_http_is_redirected_to_https_except_lets_encrypts_challenge(stack: Stack) -> None:
    host = {"Host": DOMAIN}
    for method in ("GET", "POST"):
        response = httpx.request(method, f"{stack.site.http}/webhook?x=1", headers=host, json=CLOSE)
        assert (response.status_code, response.headers["location"]) == (301, f"https://{DOMAIN}/webhook?x=1")
    challenge = httpx.get(f"{stack.site.http}/.well-known/acme-challenge/{ACME_TOKEN}", headers=host)
    assert (challenge.status_code, challenge.text) == (200, f"{ACME_TOKEN}.key-authorization")


def test_an_alert_over_the_body_limit_gets_sparkys_own_answer_from_nginx(stack: Stack) -> None:
    body = b'{"secret": "' + b"x" * BODY_LIMIT + b'"}'
    with https_client(stack.site, ALLOWED) as client:
        through_nginx = client.post("/webhook", content=body, headers={"Content-Type": "application/json"})
    direct = httpx.Client(transport=httpx.HTTPTransport(local_address=ALLOWED)).post(
        f"{stack.sparky}/webhook", content=body, headers={"Content-Type": "application/json"})
    assert (direct.status_code, through_nginx.status_code) == (413, 413)
    assert through_nginx.headers["content-type"] == "application/json"
    assert through_nginx.json() == direct.json()
