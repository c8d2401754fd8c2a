/*
 * Drives a live dlockd through a client generated from ../openapi.yaml:
 * types from openapi-typescript (generated/schema.d.ts, made at test time),
 * runtime openapi-fetch. No generated code is edited; every call below is
 * checked by `tsc` in strict mode against the spec's types.
 *
 *   DLOCK_URL=http://127.0.0.1:8080 [DLOCK_API_KEY=key] node .out/client-test.js
 *
 * With DLOCK_API_KEY (a dlockd with --auth-file, the key with the admin right),
 * every call carries it as the spec's bearer scheme says, and one more test
 * checks that a client without it is refused.
 *
 * The last line is "N passed, N failed". tools/api-tests.sh starts a private
 * dlockd + redis-server and runs this.
 */
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type LockGrant = components["schemas"]["LockGrant"];
type LockView = components["schemas"]["LockView"];
type Problem = components["schemas"]["Problem"];

const baseUrl = process.env.DLOCK_URL ?? "http://127.0.0.1:8080";
const apiKey = process.env.DLOCK_API_KEY;
const client = createClient<paths>({
  baseUrl,
  headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
});

// Unique per run, so the test can also run against a shared dlockd.
const run = `ct-${process.pid}-${Date.now().toString(36)}`;
// ':' and '@' are allowed in names; openapi-fetch percent-encodes them in the
// path (%3A, %40), which dlockd decodes before validating.
const lockName = `${run}:orders@db`;

let passed = 0;
let failed = 0;

class CheckFailed extends Error {}

function check(cond: boolean, what: string): asserts cond {
  if (!cond) throw new CheckFailed(what);
}

function eq<T>(got: T, want: T, what: string): void {
  check(got === want, `${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

async function test(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    const msg = e instanceof CheckFailed ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
    console.log(`FAIL ${name}: ${msg}`);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const TOKEN_RE = /^[A-Za-z0-9_-]{32}$/;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function checkGrant(g: LockGrant, name: string, ttl: number, owner: string | null): void {
  eq(g.name, name, "grant.name");
  check(TOKEN_RE.test(g.token), `grant.token is not 32 base64url chars: ${g.token}`);
  check(Number.isSafeInteger(g.fence) && g.fence > 0, `grant.fence not a positive safe integer: ${g.fence}`);
  eq(g.ttl_ms, ttl, "grant.ttl_ms");
  check(TIME_RE.test(g.expires_at), `grant.expires_at format: ${g.expires_at}`);
  const skew = Date.parse(g.expires_at) - (Date.now() + ttl);
  check(Math.abs(skew) < 5000, `grant.expires_at is ${skew} ms away from now + ttl_ms`);
  eq(g.owner, owner, "grant.owner");
}

function checkView(v: LockView, name: string, fence: number, owner: string | null): void {
  eq(v.name, name, "view.name");
  eq(v.fence, fence, "view.fence");
  eq(v.owner, owner, "view.owner");
  check(v.ttl_ms >= 0, "view.ttl_ms >= 0");
  check(TIME_RE.test(v.expires_at) && TIME_RE.test(v.acquired_at), "view timestamps");
  check(!("token" in v), "a LockView must never carry the token");
}

function checkProblem(p: Problem, status: number, code: Problem["code"]): void {
  eq(p.status, status, "problem.status");
  eq(p.code, code, "problem.code");
  eq(p.type, `urn:dlockd:problem:${code}`, "problem.type");
  check(p.title.length > 0 && p.detail.length > 0, "problem title/detail non-empty");
}

// State carried from test to test (each test stands alone where it can).
let grant: LockGrant | undefined;

async function main(): Promise<void> {
  console.log(`# dlockd at ${baseUrl}, lock names start with ${run}`);

  await test("healthz", async () => {
    const { data, error, response } = await client.GET("/healthz");
    eq(response.status, 200, "status");
    check(error === undefined && data !== undefined, "no body");
    eq(data.status, "ok", "status member");
  });

  await test("readyz", async () => {
    const { data, response } = await client.GET("/readyz");
    eq(response.status, 200, "status");
    check(data !== undefined, "no body");
    eq(data.status, "ready", "status member");
  });

  await test("acquire: 201 with a typed LockGrant and Location", async () => {
    const { data, error, response } = await client.PUT("/locks/{name}", {
      params: { path: { name: lockName }, query: { ttl_ms: 20000, owner: "client-test" } },
    });
    check(error === undefined, `unexpected error body ${JSON.stringify(error)}`);
    eq(response.status, 201, "status");
    check(data !== undefined, "no grant");
    checkGrant(data, lockName, 20000, "client-test");
    eq(response.headers.get("Location"), `/locks/${lockName}`, "Location");
    eq(response.headers.get("Cache-Control"), "no-store", "Cache-Control");
    grant = data;
  });

  await test("re-acquire with Lock-Token header: 200, same token and fence", async () => {
    check(grant !== undefined, "no grant from the acquire test");
    const { data, response } = await client.PUT("/locks/{name}", {
      params: { path: { name: lockName }, header: { "Lock-Token": grant.token } },
      body: { ttl_ms: 25000 },
    });
    eq(response.status, 200, "status");
    check(data !== undefined, "no grant");
    checkGrant(data, lockName, 25000, "client-test");
    eq(data.token, grant.token, "token");
    eq(data.fence, grant.fence, "fence");
  });

  await test("inspect: getLock returns the public LockView", async () => {
    check(grant !== undefined, "no grant from the acquire test");
    const { data, response } = await client.GET("/locks/{name}", { params: { path: { name: lockName } } });
    eq(response.status, 200, "status");
    check(data !== undefined, "no view");
    checkView(data, lockName, grant.fence, "client-test");
    check(data.ttl_ms <= 25000, "remaining ttl_ms <= lease");
  });

  await test("headLock: 200 without a body, 404 for a free lock", async () => {
    const held = await client.HEAD("/locks/{name}", { params: { path: { name: lockName } } });
    eq(held.response.status, 200, "status (held)");
    eq(held.data, undefined, "data");
    const free = await client.HEAD("/locks/{name}", { params: { path: { name: `${run}-free` } } });
    eq(free.response.status, 404, "status (free)");
  });

  await test("conflict: 409 lock_held with the holder's view and Retry-After", async () => {
    check(grant !== undefined, "no grant from the acquire test");
    const { data, error, response } = await client.PUT("/locks/{name}", {
      params: { path: { name: lockName } },
      body: { owner: "intruder" },
    });
    eq(response.status, 409, "status");
    check(data === undefined && error !== undefined, "expected an error body");
    check(typeof error === "object", `error body is not a problem: ${JSON.stringify(error)}`);
    eq(response.headers.get("Content-Type")?.split(";")[0], "application/problem+json", "Content-Type");
    checkProblem(error, 409, "lock_held");
    check(error.code === "lock_held", "narrowed");
    const lock: LockView | undefined = error.lock;
    check(lock !== undefined, "409 lock_held without the lock member");
    checkView(lock, lockName, grant.fence, "client-test");
    const ra = Number(response.headers.get("Retry-After"));
    check(Number.isInteger(ra) && ra >= 1 && ra <= 25, `Retry-After ${response.headers.get("Retry-After")}`);
  });

  await test("renew with the Lock-Token header: 200, same token and fence, new lease", async () => {
    check(grant !== undefined, "no grant from the acquire test");
    const { data, response } = await client.POST("/locks/{name}/renew", {
      params: { path: { name: lockName }, header: { "Lock-Token": grant.token }, query: { ttl_ms: 40000 } },
    });
    eq(response.status, 200, "status");
    check(data !== undefined, "no grant");
    checkGrant(data, lockName, 40000, "client-test");
    eq(data.token, grant.token, "token");
    eq(data.fence, grant.fence, "fence");
  });

  await test("renew with a wrong token: 409 token_mismatch with the lock view", async () => {
    check(grant !== undefined, "no grant from the acquire test");
    const { error, response } = await client.POST("/locks/{name}/renew", {
      params: { path: { name: lockName }, header: { "Lock-Token": "A".repeat(32) } },
    });
    eq(response.status, 409, "status");
    check(typeof error === "object" && error !== null, "problem body");
    checkProblem(error, 409, "token_mismatch");
    check(error.lock !== undefined, "lock member");
    checkView(error.lock, lockName, grant.fence, "client-test");
  });

  await test("renew without a token: 400 missing_token", async () => {
    const { error, response } = await client.POST("/locks/{name}/renew", {
      params: { path: { name: lockName } },
    });
    eq(response.status, 400, "status");
    check(typeof error === "object" && error !== null, "problem body");
    checkProblem(error, 400, "missing_token");
  });

  await test("wait: a second acquire with wait_ms gets the lock when it is released (201)", async () => {
    check(grant !== undefined, "no grant from the acquire test");
    const held = grant;
    const t0 = Date.now();
    const waiter = client.PUT("/locks/{name}", {
      params: { path: { name: lockName }, query: { wait_ms: 10000, ttl_ms: 5000 } },
      body: { owner: "waiter" },
    });
    await sleep(300);
    const rel = await client.DELETE("/locks/{name}", {
      params: { path: { name: lockName }, header: { "Lock-Token": held.token } },
    });
    eq(rel.response.status, 204, "release status");
    const { data, response } = await waiter;
    const waited = Date.now() - t0;
    eq(response.status, 201, "waiter status");
    check(data !== undefined, "no grant");
    checkGrant(data, lockName, 5000, "waiter");
    check(data.fence > held.fence, `fence must grow: ${data.fence} <= ${held.fence}`);
    check(data.token !== held.token, "a new token");
    check(waited >= 250 && waited < 5000, `waited ${waited} ms`);
    grant = data;
  });

  await test("release: 204, then 404 not_held", async () => {
    check(grant !== undefined, "no grant from the wait test");
    const { data, error, response } = await client.DELETE("/locks/{name}", {
      params: { path: { name: lockName } },
      body: { token: grant.token },
    });
    eq(response.status, 204, "status");
    check(data === undefined && error === undefined, "204 has no body");
    const again = await client.DELETE("/locks/{name}", {
      params: { path: { name: lockName }, header: { "Lock-Token": grant.token } },
    });
    eq(again.response.status, 404, "second release");
    check(typeof again.error === "object" && again.error !== null, "problem body");
    checkProblem(again.error, 404, "not_held");
    const view = await client.GET("/locks/{name}", { params: { path: { name: lockName } } });
    eq(view.response.status, 404, "inspect after release");
  });

  await test("invalid name: 400 invalid_name", async () => {
    const { error, response } = await client.GET("/locks/{name}", { params: { path: { name: "a b" } } });
    eq(response.status, 400, "status");
    check(typeof error === "object" && error !== null, "problem body");
    checkProblem(error, 400, "invalid_name");
  });

  await test("list: listLocks with prefix and pagination", async () => {
    const prefix = `${run}-list-`;
    const names = Array.from({ length: 7 }, (_, i) => `${prefix}${String(i).padStart(2, "0")}`);
    const grants = new Map<string, LockGrant>();
    for (const name of names) {
      const { data, response } = await client.PUT("/locks/{name}", {
        params: { path: { name }, query: { ttl_ms: 20000, owner: `o-${name}` } },
      });
      eq(response.status, 201, `acquire ${name}`);
      check(data !== undefined, "no grant");
      grants.set(name, data);
    }
    // an unrelated lock that the prefix must filter out
    const other = await client.PUT("/locks/{name}", { params: { path: { name: `${run}-other` } } });
    eq(other.response.status, 201, "acquire other");

    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: { prefix: string; limit: number; cursor?: string } = { prefix, limit: 3 };
      if (cursor !== null) query.cursor = cursor;
      const { data, response } = await client.GET("/locks", { params: { query } });
      eq(response.status, 200, `page ${pages} status`);
      check(data !== undefined, "no page");
      check(data.locks.length <= 3, `page has ${data.locks.length} > limit items`);
      const pageNames = data.locks.map((l) => l.name);
      check(
        pageNames.every((n, i) => i === 0 || (pageNames[i - 1] ?? "") < n),
        `names not sorted within the page: ${pageNames.join(",")}`,
      );
      for (const v of data.locks) {
        check(v.name.startsWith(prefix), `${v.name} does not match the prefix`);
        check(!seen.has(v.name), `${v.name} listed twice`);
        seen.add(v.name);
        const g = grants.get(v.name);
        check(g !== undefined, `unknown lock ${v.name}`);
        checkView(v, v.name, g.fence, `o-${v.name}`);
      }
      cursor = data.next_cursor;
      pages++;
      check(pages < 50, "too many pages");
    } while (cursor !== null);
    eq(seen.size, names.length, "locks listed");
    check(pages >= 3, `7 locks with limit 3 must take at least 3 pages, took ${pages}`);

    const bad = await client.GET("/locks", { params: { query: { limit: 0 } } });
    eq(bad.response.status, 400, "limit=0 status");
    check(typeof bad.error === "object" && bad.error !== null, "problem body");
    checkProblem(bad.error, 400, "invalid_limit");

    for (const [name, g] of grants) {
      const r = await client.DELETE("/locks/{name}", {
        params: { path: { name }, header: { "Lock-Token": g.token } },
      });
      eq(r.response.status, 204, `release ${name}`);
    }
    if (other.data !== undefined) {
      await client.DELETE("/locks/{name}", {
        params: { path: { name: `${run}-other` }, header: { "Lock-Token": other.data.token } },
      });
    }
  });

  await test("metrics: Prometheus text", async () => {
    const { data, response } = await client.GET("/metrics", { parseAs: "text" });
    eq(response.status, 200, "status");
    eq(response.headers.get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8", "Content-Type");
    check(typeof data === "string" && data.includes("# TYPE "), "exposition format");
  });

  if (apiKey) {
    await test("auth: without the key, 401 with WWW-Authenticate; with a wrong one, 401", async () => {
      const bare = createClient<paths>({ baseUrl });
      const r = await bare.PUT("/locks/{name}", { params: { path: { name: `${run}-auth` }, query: { ttl_ms: 5000 } } });
      eq(r.response.status, 401, "status without a key");
      check(r.error !== undefined, "a problem body");
      checkProblem(r.error as Problem, 401, "unauthorized");
      check((r.response.headers.get("WWW-Authenticate") ?? "").startsWith("Bearer"), "WWW-Authenticate: Bearer");
      const wrong = createClient<paths>({ baseUrl, headers: { Authorization: "Bearer dlk_not_a_key" } });
      const w = await wrong.GET("/locks", {});
      eq(w.response.status, 401, "status with a wrong key");
      const open = await bare.GET("/healthz", {});
      eq(open.response.status, 200, "/healthz needs no key");
      check((r.response.headers.get("X-Request-Id") ?? "") !== "", "X-Request-Id on every answer");
    });
  }

  await test("openapi.yaml: the spec itself", async () => {
    const { data, response } = await client.GET("/openapi.yaml", { parseAs: "text" });
    eq(response.status, 200, "status");
    eq(response.headers.get("Content-Type")?.split(";")[0], "application/yaml", "Content-Type");
    check(typeof data === "string" && data.startsWith("openapi: 3.1"), "an OpenAPI 3.1 document");
  });

  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((e: unknown) => {
  console.log(`FAIL client-test crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exitCode = 1;
});
