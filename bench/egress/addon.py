"""mitmdump addon for bench/egress: the allowlist-and-inject subset of what
bot-bottle's egress proxy does, without DLP.

Only BENCH_HOST is allowed (403 otherwise, at CONNECT and per request);
each request gets "Authorization: Bearer $BENCH_TOKEN". Upstream
connections go to $BENCH_ORIGIN (host:port) while SNI, certificate
verification and the Host header stay BENCH_HOST, so no DNS is involved.
Written for mitmproxy 8.1.
"""

import os

from mitmproxy import http

BENCH_HOST = "api.bench.test"
_host, _port = os.environ["BENCH_ORIGIN"].rsplit(":", 1)
ORIGIN = (_host, int(_port))
AUTH = "Bearer " + os.environ["BENCH_TOKEN"]


def _refuse(flow: http.HTTPFlow) -> None:
    flow.response = http.Response.make(
        403, b"host not allowed\n", {"Content-Type": "text/plain"}
    )


def http_connect(flow: http.HTTPFlow) -> None:
    if flow.request.host.lower() != BENCH_HOST:
        _refuse(flow)
        return
    # The tunnel's server connection (opened eagerly at CONNECT) goes to
    # the origin's address; server_connect below keeps the SNI.
    flow.request.host, flow.request.port = ORIGIN


def request(flow: http.HTTPFlow) -> None:
    if (flow.request.host_header or "").split(":")[0].lower() != BENCH_HOST:
        _refuse(flow)
        return
    flow.request.host, flow.request.port = ORIGIN
    flow.request.host_header = BENCH_HOST  # the host setter rewrote it
    flow.request.headers["Authorization"] = AUTH


def server_connect(data) -> None:
    if tuple(data.server.address) == ORIGIN:
        data.server.sni = BENCH_HOST
