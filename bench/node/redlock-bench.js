'use strict';
// Peer benchmark for dlockd (bench/run.sh): node-redlock acquire+release pairs,
// in-process, with CONC concurrent async loops, each on its own resource name.
//   node redlock-bench.js --ports 6379[,6380,...] [--conc 64] [--seconds 4]
//                         [--warmup 0.5] [--ttl-ms 10000] [--name nr]
// Prints one line of JSON (the same fields as bench/loadgen, "pcts" too) on stdout.
const Redis = require('ioredis');
const Redlock = require('redlock').default;

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const ports = String(arg('ports', '6379')).split(',').map(Number);
const conc = Number(arg('conc', 64));
const seconds = Number(arg('seconds', 4));
const warmup = Number(arg('warmup', 0.5));
const ttl = Number(arg('ttl-ms', 10000));
const name = String(arg('name', 'nr'));

const clients = ports.map(
  (port) => new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: 1 })
);
// retryCount 0: uncontended names, a refusal is an error, not something to wait for.
const redlock = new Redlock(clients, { retryCount: 0, driftFactor: 0.01 });
redlock.on('error', () => {}); // counted below via rejected promises

const now = () => Number(process.hrtime.bigint());
let errors = 0;
let ops = 0;
const lat = [];

async function loop(i, winStart, winEnd) {
  const resource = `${name}:${i}`;
  for (;;) {
    const t = now();
    if (t >= winEnd) return;
    try {
      const lock = await redlock.acquire([resource], ttl);
      await lock.release();
      const done = now();
      if (done >= winStart && done <= winEnd) {
        ops++;
        lat.push(done - t);
      }
    } catch (e) {
      errors++;
      if (errors <= 3) process.stderr.write(`redlock-bench: ${e.message}\n`);
    }
  }
}

// redlock's "exports" map hides its package.json from require().
function pkgVersion(pkg) {
  const path = require('path');
  const fs = require('fs');
  const file = path.join(__dirname, 'node_modules', pkg, 'package.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')).version;
}

function pct(sorted, p) {
  if (!sorted.length) return -1;
  const i = Math.min(sorted.length - 1, Math.floor(p * sorted.length));
  return sorted[i] / 1000;
}

// The percentiles (in %) listed as "pcts": [[q, us], ...], as loadgen lists them.
const PCTS = [1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9, 100];

async function main() {
  await Promise.all(clients.map((c) => c.connect()));
  const t0 = now();
  const winStart = t0 + warmup * 1e9;
  const winEnd = winStart + seconds * 1e9;
  await Promise.all(Array.from({ length: conc }, (_, i) => loop(i, winStart, winEnd)));
  lat.sort((a, b) => a - b);
  const mean = lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length / 1000 : -1;
  const out = {
    mode: 'node-redlock',
    nodes: ports.length,
    conns: conc,
    seconds,
    ops,
    rate: ops / seconds,
    p50_us: pct(lat, 0.5),
    p90_us: pct(lat, 0.9),
    p99_us: pct(lat, 0.99),
    max_us: lat.length ? lat[lat.length - 1] / 1000 : -1,
    mean_us: mean,
    pcts: lat.length ? PCTS.map((q) => [q, pct(lat, q / 100)]) : [],
    errors,
    node: process.version,
    redlock: pkgVersion('redlock'),
    ioredis: pkgVersion('ioredis'),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  await Promise.all(clients.map((c) => c.quit().catch(() => {})));
}

main().catch((e) => {
  process.stderr.write(`redlock-bench: ${e.stack || e}\n`);
  process.exit(1);
});
