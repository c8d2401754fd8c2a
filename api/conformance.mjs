#!/usr/bin/env node
/*
 * Validates recorded HTTP traffic against the OpenAPI contract.
 *
 *   node conformance.mjs [--spec ../openapi.yaml] [--examples N] RECORDING.jsonl
 *
 * RECORDING is what the black-box harness writes with DLOCKD_RECORD=FILE
 * (tests/blackbox/harness_record.c): one JSON object per exchange with method, target
 * (raw path + query), status, headers (lower-case names), body, and for raw-
 * socket exchanges the raw request.
 *
 * Each record is matched to a spec operation by its path (against the path
 * templates; a {param} is one raw, still percent-encoded segment) and method.
 * Records that match no operation (unknown path, undeclared method, a request
 * that is not well-formed HTTP/1.1) are listed as "not an operation"; records
 * without a response (transport error) as "no response". Neither is a failure.
 * A record of an operation fails if
 *   - its status is not declared for the operation (nor NXX / default),
 *   - its Content-Type (without parameters) is not declared for that status
 *     (HEAD: not declared for that status of the GET on the same path), or
 *     it has none and the response does not say x-dlockd-no-content-type,
 *   - a header the spec marks required for that response is missing, or a
 *     declared header's value does not match its schema,
 *   - the body does not validate against the declared schema (Ajv, JSON Schema
 *     2020-12, formats checked, $refs resolved across the whole document),
 *   - a HEAD response, or a response that declares no content (204), has a body,
 *   - a JSON body other than a LockGrant has a "token" member anywhere (the
 *     spec: the token is never shown in views, lists or problems),
 *   - a problem's "status" differs from the HTTP status or its "type" is not
 *     urn:dlockd:problem:<code>.
 * Every operation must have been exercised at least once; declared
 * (operation, status) pairs never seen are listed (informational).
 *
 * Counting: one check per (operation, status) pair seen (passes if all its
 * records conform) plus one per operation (passes if exercised). The last line
 * is "N passed, N failed".
 */
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import Ajv2020Module from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";

const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;
const addFormats = addFormatsModule.default ?? addFormatsModule;
const here = path.dirname(fileURLToPath(import.meta.url));

// ------------------------------------------------------------------ arguments
let specPath = path.join(here, "..", "openapi.yaml");
let maxExamples = 3;
const files = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--spec") specPath = argv[++i];
  else if (argv[i] === "--examples") maxExamples = Number(argv[++i]);
  else if (argv[i] === "-h" || argv[i] === "--help") {
    console.log("usage: node conformance.mjs [--spec openapi.yaml] [--examples N] RECORDING.jsonl...");
    process.exit(0);
  } else files.push(argv[i]);
}
if (files.length === 0) {
  console.error("usage: node conformance.mjs [--spec openapi.yaml] [--examples N] RECORDING.jsonl...");
  console.log("0 passed, 1 failed");
  process.exit(2);
}

// ----------------------------------------------------------------------- spec
const spec = parseYaml(fs.readFileSync(specPath, "utf8"));
const SPEC_ID = "https://dlockd.invalid/openapi.json";
const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);
ajv.addSchema(spec, SPEC_ID);

const escPtr = (s) => encodeURIComponent(String(s).replace(/~/g, "~0").replace(/\//g, "~1"));
const ptrJoin = (ptr, ...segs) => ptr + segs.map((s) => "/" + escPtr(s)).join("");

function getPtr(ptr) {
  let node = spec;
  for (const raw of ptr.replace(/^#/, "").split("/").slice(1)) {
    const seg = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    node = node?.[seg];
  }
  if (node === undefined) throw new Error(`unresolvable reference ${ptr}`);
  return node;
}

// follow $ref chains (local refs only): returns { node, ptr }
function deref(node, ptr) {
  for (let n = 0; node && typeof node.$ref === "string" && n < 20; n++) {
    if (!node.$ref.startsWith("#/")) throw new Error(`non-local $ref ${node.$ref} at ${ptr}`);
    ptr = "#" + node.$ref.slice(1).split("/").map((s) => (s ? escPtr(decodeURIComponent(s).replace(/~1/g, "/").replace(/~0/g, "~")) : s)).join("/");
    node = getPtr(ptr);
  }
  return { node, ptr };
}

const validators = new Map();
function validatorAt(ptr) {
  let v = validators.get(ptr);
  if (!v) {
    v = ajv.compile({ $ref: SPEC_ID + ptr });
    validators.set(ptr, v);
  }
  return v;
}

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const operations = []; // { id, method, template, re, nvars, responses: Map(key -> {node, ptr}) }
for (const [template, rawItem] of Object.entries(spec.paths ?? {})) {
  const { node: item } = deref(rawItem, ptrJoin("#/paths", template));
  const parts = template.split(/(\{[^}]+\})/);
  const re = new RegExp(
    "^" + parts.map((p) => (/^\{.*\}$/.test(p) ? "([^/]*)" : p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("") + "$",
  );
  const nvars = parts.filter((p) => /^\{.*\}$/.test(p)).length;
  for (const m of METHODS) {
    if (!item[m]) continue;
    const opPtr = ptrJoin("#/paths", template, m);
    const responses = new Map();
    for (const [code, r] of Object.entries(item[m].responses ?? {})) {
      responses.set(code, deref(r, ptrJoin(opPtr, "responses", code)));
    }
    operations.push({ id: item[m].operationId ?? `${m.toUpperCase()} ${template}`, method: m.toUpperCase(), template, re, nvars, responses });
  }
}
operations.sort((a, b) => a.nvars - b.nvars);
const templates = [...new Set(operations.map((o) => o.template))];

function findOperation(method, target) {
  const p = target.split("?")[0].split("#")[0];
  let pathKnown = false;
  for (const op of operations) {
    if (!op.re.test(p)) continue;
    pathKnown = true;
    if (op.method === method) return { op };
  }
  return { op: null, pathKnown };
}

function responseFor(op, status) {
  const s = String(status);
  for (const key of [s, `${s[0]}XX`, `${s[0]}xx`, "default"]) {
    if (op.responses.has(key)) return { key, ...op.responses.get(key) };
  }
  return null;
}

// ------------------------------------------------------------- raw requests
// Why a raw request is not a well-formed HTTP/1.1 message (or null if it is).
// Content-Length together with Transfer-Encoding is well-formed enough here:
// the spec gives it an answer (400 bad_request) on every operation.
function malformedHttp(raw) {
  const hEnd = raw.indexOf("\r\n\r\n");
  if (hEnd < 0) return "no end of the header block";
  const lines = raw.slice(0, hEnd).split("\r\n");
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^ ]+ HTTP\/1\.[01]$/.test(lines[0] ?? "")) return "bad request line";
  const hdrs = {};
  for (const l of lines.slice(1)) {
    const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(l);
    if (!m) return "bad header line";
    (hdrs[m[1].toLowerCase()] ??= []).push(m[2]);
  }
  if ((hdrs["content-length"] ?? []).some((v) => !/^[0-9]+$/.test(v))) return "bad Content-Length";
  // Beyond 64 bits no server can frame it; libmicrohttpd answers it itself (the
  // spec's "Errors dlockd cannot shape").
  if ((hdrs["content-length"] ?? []).some((v) => BigInt(v) >= 2n ** 64n)) return "Content-Length beyond 2^64";
  const te = (hdrs["transfer-encoding"] ?? []).join(",");
  if (/chunked/i.test(te) && !hdrs["content-length"]) {
    let rest = raw.slice(hEnd + 4);
    for (;;) {
      const m = /^([0-9A-Fa-f]+)(;[^\r\n]*)?\r\n/.exec(rest);
      if (!m) return "bad chunked body";
      const size = parseInt(m[1], 16);
      rest = rest.slice(m[0].length);
      if (size === 0) break;
      if (rest.length < size + 2 || rest.slice(size, size + 2) !== "\r\n") return "bad chunked body";
      rest = rest.slice(size + 2);
    }
  }
  return null;
}

// ------------------------------------------------------------------- checking
const isJsonMedia = (m) => m === "application/json" || /^application\/[^;]*\+json$/.test(m);
function mediaMatches(declared, media) {
  const d = declared.toLowerCase().split(";")[0].trim();
  if (d === media || d === "*/*") return true;
  return d.endsWith("/*") && media.startsWith(d.slice(0, -1));
}
function fmtErrors(errors) {
  return (errors ?? [])
    .filter((e) => !["allOf", "anyOf", "oneOf", "if"].includes(e.keyword))
    .map((e) => `${e.instancePath || "(body)"} ${e.message}${e.params?.allowedValues ? ` ${JSON.stringify(e.params.allowedValues)}` : ""}${e.params?.allowedValue !== undefined ? ` ${JSON.stringify(e.params.allowedValue)}` : ""}`)
    .slice(0, 4)
    .join("; ");
}
function hasKey(v, key) {
  if (Array.isArray(v)) return v.some((x) => hasKey(x, key));
  if (v && typeof v === "object") return Object.entries(v).some(([k, x]) => k === key || hasKey(x, key));
  return false;
}
function headerValue(schema, value) {
  const t = schema?.type;
  const types = Array.isArray(t) ? t : [t];
  if ((types.includes("integer") || types.includes("number")) && /^-?[0-9]+(\.[0-9]+)?$/.test(value)) return Number(value);
  if (types.includes("boolean") && (value === "true" || value === "false")) return value === "true";
  return value;
}

function checkRecord(rec, op) {
  const errs = [];
  const status = rec.status;
  const resp = responseFor(op, status);
  if (!resp) {
    errs.push(`status ${status} is not declared (declared: ${[...op.responses.keys()].join(", ")})`);
    return errs;
  }
  const headers = rec.headers ?? {};
  const ctRaw = headers["content-type"];
  const media = ctRaw ? ctRaw.split(";")[0].trim().toLowerCase() : null;
  const body = rec.body ?? "";
  const bodyEmpty = body === "" && !rec.body_base64;
  const content = resp.node.content ?? {};
  const declared = Object.keys(content);

  if (rec.method === "HEAD") {
    if (!bodyEmpty) errs.push(`HEAD response has a ${body.length}-byte body`);
    const get = operations.find((o) => o.method === "GET" && o.template === op.template);
    const getResp = get && responseFor(get, status);
    const getDeclared = Object.keys(getResp?.node.content ?? {});
    if (media && getDeclared.length && !getDeclared.some((d) => mediaMatches(d, media))) {
      errs.push(`HEAD Content-Type ${media} is not what GET declares for ${status} (${getDeclared.join(", ")})`);
    }
  } else if (declared.length === 0) {
    if (!bodyEmpty) errs.push(`status ${status} declares no content but the body has ${body.length} bytes`);
  } else if (!media) {
    // A response the HTTP library writes itself may come without a
    // Content-Type; the spec must say so with x-dlockd-no-content-type.
    if (!resp.node["x-dlockd-no-content-type"]) errs.push(`no Content-Type (declared: ${declared.join(", ")})`);
  } else {
    const key = declared.find((d) => mediaMatches(d, media));
    if (!key) {
      errs.push(`Content-Type ${ctRaw} is not declared for ${status} (declared: ${declared.join(", ")})`);
    } else if (rec.body_base64) {
      errs.push("body is not valid UTF-8");
    } else {
      const mt = content[key];
      if (mt.schema) {
        const sptr = ptrJoin(resp.ptr, "content", key, "schema");
        let value = body;
        let ok = true;
        if (isJsonMedia(media)) {
          try {
            value = JSON.parse(body);
          } catch (e) {
            errs.push(`body is not JSON: ${e.message}`);
            ok = false;
          }
        }
        if (ok) {
          const v = validatorAt(sptr);
          if (!v(value)) errs.push(`body does not match the schema: ${fmtErrors(v.errors)}`);
          // the spec: the token is returned only in LockGrants, never in views,
          // lists or problems
          if (!/\/LockGrant$/.test(mt.schema.$ref ?? "") && hasKey(value, "token"))
            errs.push("a token member outside a LockGrant (the token must never be shown to others)");
          // RFC 9457 + the spec's Problem description: status is the HTTP
          // status, type is urn:dlockd:problem:<code>
          if (media === "application/problem+json" && value && typeof value === "object") {
            if (value.status !== status) errs.push(`problem status member ${value.status} differs from the HTTP status`);
            if (typeof value.code === "string" && value.type !== `urn:dlockd:problem:${value.code}`)
              errs.push(`problem type ${value.type} does not match its code ${value.code}`);
          }
        }
      }
    }
  }

  for (const [name, raw] of Object.entries(resp.node.headers ?? {})) {
    if (name.toLowerCase() === "content-type") continue; // ignored by OpenAPI
    const { node: h, ptr: hptr } = deref(raw, ptrJoin(resp.ptr, "headers", name));
    const value = headers[name.toLowerCase()];
    if (value === undefined) {
      if (h.required) errs.push(`required header ${name} is missing`);
      continue;
    }
    if (h.schema) {
      const v = validatorAt(ptrJoin(hptr, "schema"));
      if (!v(headerValue(deref(h.schema, "").node, value))) {
        errs.push(`header ${name}: ${JSON.stringify(value)} ${fmtErrors(v.errors).replace(/^\(body\) /, "")}`);
      }
    }
  }
  return errs;
}

// ------------------------------------------------------------------------ run
const stats = {
  records: 0,
  byVia: {},
  opRecords: 0,
  opOk: 0,
  opBad: 0,
  noResponse: new Map(), // "METHOD target-path (error)" -> count
  notOp: new Map(), // reason + request -> { count, status set }
  parseErrors: 0,
};
const seen = new Map(); // op.id -> Map(status -> { ok, bad })
const failures = new Map(); // `${op.id} ${status}: ${msg}` -> { count, examples[] }
const notes = new Map();

const addTo = (map, key, ex) => {
  const e = map.get(key) ?? { count: 0, examples: [] };
  e.count++;
  if (ex && e.examples.length < maxExamples) e.examples.push(ex);
  map.set(key, e);
};
const pathOf = (t) => t.split("?")[0];
const shortTarget = (t) => (t.length > 100 ? t.slice(0, 97) + "..." : t);
const exampleOf = (rec) =>
  `[${rec.test ?? "?"}] ${rec.method} ${shortTarget(rec.target)} -> ${rec.status} ${rec.headers?.["content-type"] ?? ""} ${JSON.stringify((rec.body ?? "").slice(0, 160))}`;

for (const file of files) {
  const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let rec;
    try {
      rec = JSON.parse(line);
    } catch {
      stats.parseErrors++;
      continue;
    }
    stats.records++;
    stats.byVia[rec.via ?? "?"] = (stats.byVia[rec.via ?? "?"] ?? 0) + 1;
    if (!rec.status) {
      addTo(stats.noResponse, `${rec.method} ${pathOf(rec.target)}${rec.error ? ` (${rec.error.replace(/\d+ milliseconds/, "N milliseconds").replace(/port \d+/, "port N").replace(/after \d+ ms/, "after N ms")})` : ""}`);
      continue;
    }
    if (rec.via === "raw") {
      const raw = rec.raw_request ?? (rec.raw_request_base64 ? Buffer.from(rec.raw_request_base64, "base64").toString("latin1") : "");
      const why = malformedHttp(raw);
      if (why) {
        addTo(stats.notOp, `malformed HTTP request (${why}): ${JSON.stringify(raw.split("\r\n")[0].slice(0, 60))} -> ${rec.status}`);
        continue;
      }
    }
    const { op, pathKnown } = findOperation(rec.method, rec.target);
    if (!op) {
      const why = pathKnown ? "method not declared for the path" : "path matches no template";
      addTo(stats.notOp, `${why}: ${rec.method} ${pathOf(rec.target)} -> ${rec.status}`);
      // the spec's overview promises these answers; note deviations (informational)
      if (rec.status === 404 || rec.status === 405) {
        const code = rec.status === 404 ? "not_found" : "method_not_allowed";
        let bodyCode;
        try {
          bodyCode = JSON.parse(rec.body).code;
        } catch {}
        if (!(rec.headers?.["content-type"] ?? "").startsWith("application/problem+json") || bodyCode !== code)
          addTo(notes, `${rec.status} for a non-operation is not a ${code} problem`, exampleOf(rec));
        if (rec.status === 405 && !rec.headers?.allow) addTo(notes, "405 without Allow", exampleOf(rec));
      } else if (!pathKnown || rec.method !== "HEAD") {
        addTo(notes, `non-operation answered ${rec.status} (the spec's overview says 404 not_found / 405 method_not_allowed)`, exampleOf(rec));
      }
      continue;
    }
    stats.opRecords++;
    const errs = checkRecord(rec, op);
    const byStatus = seen.get(op.id) ?? new Map();
    const s = byStatus.get(rec.status) ?? { ok: 0, bad: 0 };
    if (errs.length) {
      s.bad++;
      stats.opBad++;
      for (const e of errs) addTo(failures, `${op.id} ${rec.status}: ${e}`, exampleOf(rec));
    } else {
      s.ok++;
      stats.opOk++;
    }
    byStatus.set(rec.status, s);
    seen.set(op.id, byStatus);
  }
}

// --------------------------------------------------------------------- report
let passed = 0;
let failed = 0;
const out = (s = "") => console.log(s);

out(`conformance: ${stats.records} recorded exchanges (${Object.entries(stats.byVia).map(([k, v]) => `${k} ${v}`).join(", ")}) against ${path.relative(process.cwd(), specPath) || specPath}`);
if (stats.parseErrors) out(`  ${stats.parseErrors} lines of the recording are not JSON (ignored)`);
out(`  checked against an operation: ${stats.opRecords} (${stats.opOk} conform, ${stats.opBad} do not)`);
const sumCounts = (m) => [...m.values()].reduce((a, e) => a + e.count, 0);
out(`  not an operation: ${sumCounts(stats.notOp)}`);
for (const [k, e] of [...stats.notOp].sort()) out(`    ${String(e.count).padStart(6)}  ${k}`);
out(`  no response (transport error, timeout, connection closed): ${sumCounts(stats.noResponse)}`);
for (const [k, e] of [...stats.noResponse].sort((a, b) => b[1].count - a[1].count).slice(0, 12)) out(`    ${String(e.count).padStart(6)}  ${k}`);
if (stats.noResponse.size > 12) out(`    ... and ${stats.noResponse.size - 12} more kinds`);

out();
out("operations (status: records seen; * = some records do not conform):");
const neverSeen = [];
for (const op of operations) {
  const byStatus = seen.get(op.id);
  const declared = [...op.responses.keys()];
  const line = `  ${op.id.padEnd(14)} ${op.method.padEnd(6)} ${op.template.padEnd(20)}`;
  if (!byStatus) {
    failed++;
    out(`${line} NEVER EXERCISED  FAIL`);
    neverSeen.push(...declared.map((d) => `${op.id} ${d}`));
    continue;
  }
  passed++;
  const parts = [];
  for (const [st, s] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    parts.push(`${st}:${s.ok + s.bad}${s.bad ? "*" : ""}`);
    if (s.bad) failed++;
    else passed++;
  }
  out(`${line} ${parts.join(" ")}`);
  for (const d of declared) {
    const hit = [...byStatus.keys()].some((st) => responseFor(op, st)?.key === d);
    if (!hit) neverSeen.push(`${op.id} ${d}`);
  }
}
out();
out(`declared (operation, status) pairs never seen (informational): ${neverSeen.length ? "" : "none"}`);
for (let i = 0; i < neverSeen.length; i += 6) out(`  ${neverSeen.slice(i, i + 6).join(", ")}`);

if (notes.size) {
  out();
  out("notes on non-operations (informational):");
  for (const [k, e] of notes) {
    out(`  ${k} (x${e.count})`);
    for (const ex of e.examples) out(`      e.g. ${ex}`);
  }
}
if (failures.size) {
  out();
  out("FAILURES (operation status: problem, x records):");
  for (const [k, e] of [...failures].sort()) {
    out(`  ${k} (x${e.count})`);
    for (const ex of e.examples) out(`      e.g. ${ex}`);
  }
}
out();
out(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
