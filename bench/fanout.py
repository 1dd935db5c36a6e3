"""The departments alone: the hub's requests for one matter, sent at once by a bare client.

``make bench``'s cold scenario measures the hub against "the slowest department";
this module measures that department figure on the same machine, in the same run,
beside the hub. ``python -m bench.fanout SPEC.json`` (a process of its own,
started by :func:`measure`) takes the hub's URL and token, the five departments'
URLs and the project codes, and for each code in turn, hub then departments
(A B A B), times

- A, the hub: the portal's one-matter screen (``POST /graphql``, sent as
  ``bench.load`` sends it) until its body is read;
- B, the departments alone: the five requests the hub's connectors send for that
  one matter (:func:`department_requests`), all five at once from one aiohttp
  session on uvloop, from the first send until the last answer's body is read.

B's requests are built before the clock starts (only ``X-Request-Id`` is made per
matter, as the hub makes one); real estate's bearer token is fetched once before
the first matter, as the hub keeps its token. B is what any client of these five
processes waits for on this machine: the injected latency, each department's own
work (its process, its JSON or XML, sharing the cores), loopback, and one bare
client's cost. A minus B is the hub's own share. The departments' ``/_admin/requests``
record method, path and headers; ``tests/bench/test_fanout.py`` checks there that
B sends each department what the hub sends it for one matter.

Prints one JSON object: ``hub`` and ``departments`` (requests, p50/p95/p99/mean,
the share of complete answers; for the departments each one's own p50 and the
bare client's CPU per fan-out) and ``share`` (hub p50 minus departments p50, and
the median of the per-project differences). Loopback only; at most
:data:`MAX_CODES` projects, each request bounded by ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from bench.load import LOOPBACK, percentile
from connectors.civil_air_defence import build_request  # the connector's own SOAP envelope

MAX_CODES = 1_000
USER_AGENT = "onematter-hub/0.1"  # connectors.http.USER_AGENT
# What the hub's department client sends on every request besides its own headers
# (httpx's defaults under the User-Agent; connectors/http.py DepartmentClient).
DEFAULT_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
    "User-Agent": USER_AGENT,
}
JSON = "application/json"
SOAP_TNS = "http://rfb.hengyang.gov.cn/ws/CivilDefence"  # connectors.civil_air_defence.TNS
TOKEN_PATH = "/oauth/token"  # connectors.real_estate.TOKEN_PATH


@dataclass(frozen=True)
class Request:
    """One department request: method, URL (with its query), headers, body."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None


def department_requests(urls: dict[str, str], code: str, *, api_key: str, token: str) -> dict[str, Request]:
    """What the hub's connectors send each department for one matter (``fetch_answers``, one code)."""

    def json_post(path: str, value: Any, **headers: str) -> Request:
        return Request("POST", path, {"Content-Type": JSON, **headers}, orjson.dumps(value))

    fire_query = urlencode({"project_codes": code, "offset": 0, "limit": 1})
    wanted = {
        "planning": json_post("/api/projects/query", {"projectCodes": [code]}),
        "fire": Request("GET", f"/api/v1/projects?{fire_query}", {}),
        "utilities": json_post(
            "/v1/applications/batch-get", {"ProjectCodes": [code]}, **{"X-Api-Key": api_key}
        ),
        "civil_air_defence": Request(
            "POST",
            "/ws/CivilDefence",
            {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{SOAP_TNS}/QueryCases"'},
            build_request("QueryCases", [code]),
        ),
        "real_estate": json_post(
            "/bdc/api/v1/registrations/batch-query", {"XMDMLIST": [code]}, Authorization=f"Bearer {token}"
        ),
    }
    return {
        name: Request(r.method, urls[name] + r.url, {**DEFAULT_HEADERS, **r.headers}, r.body)
        for name, r in wanted.items()
        if name in urls
    }


@dataclass
class Answer:
    """One fan-out: its time until the last body was read, and each department's."""

    seconds: float
    each: dict[str, tuple[int, float, bytes]]  # department -> (status, seconds, body)

    @property
    def complete(self) -> bool:
        return all(status == 200 for status, _, _ in self.each.values())


@dataclass
class FanOut:
    """The bare client: one aiohttp session to the departments, a token fetched once."""

    session: Any
    urls: dict[str, str]
    api_key: str
    token: str = ""

    @classmethod
    async def open(
        cls, urls: dict[str, str], credentials: dict[str, str], *, timeout_s: float = 30.0
    ) -> FanOut:
        import aiohttp

        for url in urls.values():
            _check_loopback(url)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        )
        fan = cls(session, urls, credentials.get("api_key", ""))
        try:
            if "real_estate" in urls:
                fan.token = await fan._fetch_token(credentials["client_id"], credentials["client_secret"])
        except BaseException:
            await session.close()
            raise
        return fan

    async def _fetch_token(self, client_id: str, secret: str) -> str:
        """OAuth2 client credentials with HTTP Basic, as connectors/oauth.py asks."""
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        async with self.session.post(
            self.urls["real_estate"] + TOKEN_PATH,
            data=b"grant_type=client_credentials",
            headers={
                **DEFAULT_HEADERS,
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": f"Basic {basic}",
            },
        ) as response:
            response.raise_for_status()
            return str((await response.json())["access_token"])

    def requests(self, code: str) -> dict[str, Request]:
        return department_requests(self.urls, code, api_key=self.api_key, token=self.token)

    async def send(self, prepared: dict[str, Request]) -> Answer:
        """All of ``prepared`` at once; returns when the last answer's body has been read."""
        request_id = uuid.uuid4().hex
        began = time.perf_counter()

        async def one(request: Request) -> tuple[int, float, bytes]:
            headers = {**request.headers, "X-Request-Id": request_id}
            async with self.session.request(
                request.method, request.url, headers=headers, data=request.body, allow_redirects=False
            ) as response:
                body = await response.read()
                return response.status, time.perf_counter() - began, body

        answers = await asyncio.gather(*(one(r) for r in prepared.values()))
        seconds = time.perf_counter() - began
        return Answer(seconds, dict(zip(prepared, answers, strict=True)))

    async def aclose(self) -> None:
        await self.session.close()


def demo_credentials() -> dict[str, str]:
    """The fixtures' demo credentials (what ``bench.procs`` gives the hub), by connector credential name."""
    from bench import procs

    return {
        key: procs.DEMO_CREDENTIALS[var]
        for names in procs.CREDENTIAL_VARS.values()
        for key, var in names.items()
    }


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"requests go to loopback only, not {host!r}")


# -- the run: hub and departments alone, per project ------------------------------------------


@dataclass
class Spec:
    hub_url: str
    token: str
    query: str
    departments: dict[str, str]
    credentials: dict[str, str]
    codes: list[str]
    warmup_codes: list[str] = field(default_factory=list)
    timeout_s: float = 30.0

    def check(self) -> None:
        _check_loopback(self.hub_url)
        for url in self.departments.values():
            _check_loopback(url)
        if not 0 < len(self.codes) <= MAX_CODES or len(self.warmup_codes) > MAX_CODES:
            raise ValueError(f"1-{MAX_CODES} codes (and at most as many to warm up)")
        if not 0 < self.timeout_s <= 120:
            raise ValueError("timeout_s must be in (0, 120]")


async def run(spec: Spec) -> dict[str, Any]:
    import aiohttp

    spec.check()
    headers = {"Content-Type": JSON, "Authorization": f"Bearer {spec.token}"}
    graphql = f"{spec.hub_url}/graphql"
    hub_ms: dict[str, float] = {}
    fan_ms: dict[str, float] = {}
    each_ms: dict[str, list[float]] = {name: [] for name in spec.departments}
    hub_statuses: Counter[str] = Counter()
    errors = {"hub": 0, "departments": 0}
    complete = {"hub": 0, "departments": 0}
    client_cpu = 0.0
    timeout = aiohttp.ClientTimeout(total=spec.timeout_s)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as hub:
        fan = await FanOut.open(spec.departments, spec.credentials, timeout_s=spec.timeout_s)
        try:
            for counted, code in [(False, c) for c in spec.warmup_codes] + [(True, c) for c in spec.codes]:
                # A: the hub's one-matter screen.
                body = json.dumps({"query": spec.query, "variables": {"code": code}}).encode()
                began = time.perf_counter()
                try:
                    async with hub.post(graphql, data=body) as response:
                        payload = await response.read()
                        status = response.status
                    elapsed = time.perf_counter() - began
                except (aiohttp.ClientError, TimeoutError):
                    errors["hub"] += counted
                else:
                    if counted:
                        hub_ms[code] = elapsed * 1000
                        hub_statuses[str(status)] += 1
                        complete["hub"] += status == 200 and b'"errors"' not in payload
                # B: the same matter's department requests, all at once.
                prepared = fan.requests(code)
                cpu = time.process_time()
                try:
                    answer = await fan.send(prepared)
                except (aiohttp.ClientError, TimeoutError):
                    errors["departments"] += counted
                    continue
                if not counted:
                    continue
                client_cpu += time.process_time() - cpu
                fan_ms[code] = answer.seconds * 1000
                complete["departments"] += answer.complete
                for name, (_, seconds, _) in answer.each.items():
                    each_ms[name].append(seconds * 1000)
        finally:
            await fan.aclose()
    hub_figures = _latencies(list(hub_ms.values()))
    fan_figures = _latencies(list(fan_ms.values()))
    paired = [hub_ms[c] - fan_ms[c] for c in spec.codes if c in hub_ms and c in fan_ms]
    return {
        "hub": {
            **hub_figures,
            "complete": _share(complete["hub"], len(hub_ms)),
            "statuses": dict(hub_statuses),
            "transport_errors": errors["hub"],
        },
        "departments": {
            **fan_figures,
            "complete": _share(complete["departments"], len(fan_ms)),
            "by_department_p50_ms": {n: _round(percentile(sorted(v), 50)) for n, v in each_ms.items()},
            "client_cpu_ms_per_fanout": _round(client_cpu * 1000 / len(fan_ms)) if fan_ms else None,
            "transport_errors": errors["departments"],
        },
        "share": {
            "p50_ms": _difference(hub_figures["p50_ms"], fan_figures["p50_ms"]),
            "paired_median_ms": _round(statistics.median(paired)) if paired else None,
            "pairs": len(paired),
        },
    }


def _latencies(ms: list[float]) -> dict[str, Any]:
    ms = sorted(ms)
    return {
        "requests": len(ms),
        "p50_ms": _round(percentile(ms, 50)),
        "p95_ms": _round(percentile(ms, 95)),
        "p99_ms": _round(percentile(ms, 99)),
        "mean_ms": _round(sum(ms) / len(ms)) if ms else None,
    }


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 2)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def measure(
    hub_url: str,
    token: str,
    query: str,
    departments: dict[str, str],
    credentials: dict[str, str],
    codes: list[str],
    *,
    warmup_codes: list[str] | None = None,
) -> dict[str, Any]:
    """Run ``python -m bench.fanout`` in its own process (as bench.load runs); its JSON result."""
    from bench import procs

    spec = {
        "hub_url": hub_url,
        "token": token,
        "query": query,
        "departments": departments,
        "credentials": credentials,
        "codes": codes,
        "warmup_codes": warmup_codes or [],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        done = subprocess.run(
            [procs.PYTHON, "-m", "bench.fanout", f.name],
            cwd=procs.ROOT,
            capture_output=True,
            text=True,
            timeout=120 + 2 * len(codes),
        )
    finally:
        os.unlink(f.name)
    if done.returncode != 0:
        raise RuntimeError(f"the fan-out client failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.fanout SPEC.json", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        spec = Spec(**json.load(f))
    try:
        import uvloop

        result = uvloop.run(run(spec))
    except ImportError:
        result = asyncio.run(run(spec))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
