// Tandem against the official Milvus Node.js SDK (@zilliz/milvus2-sdk-node
// 2.6.x), used as a user would: a dynamic-field collection is created,
// written, searched, queried, described, re-created from its description
// and deleted from, and the server version is checked. Every expectation is
// what the SDK returns against Milvus 2.6.
//
// Run by nodejs_test.go (go test ./tests/nodejs), or by hand:
//   go build -o /tmp/tandem ./cmd/tandem && cd tests/nodejs && npm ci &&
//   TANDEM_BIN=/tmp/tandem node --test
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MilvusClient, DataType } from '@zilliz/milvus2-sdk-node';

const bin = process.env.TANDEM_BIN;
if (!bin) {
  throw new Error('TANDEM_BIN must name a tandem binary (go build -o /tmp/tandem ./cmd/tandem)');
}

// freePort returns a loopback port that was free a moment ago.
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

let proc;
let logs = '';
let dataDir;
let client;
const COLL = 'node_compat';
const COPY = 'node_compat_copy';
const DIM = 4;

// ready waits until tandem answers /readyz, failing early if it exits.
async function ready(httpPort, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) {
      throw new Error(`tandem exited (${proc.exitCode}):\n${logs}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error(`tandem not ready within ${timeoutMs} ms:\n${logs}`);
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tandem-nodejs-'));
  const port = await freePort();
  const httpPort = await freePort();
  proc = spawn(bin, ['standalone', '--data-dir', join(dataDir, 'data'),
    '--listen', `127.0.0.1:${port}`, '--http-listen', `127.0.0.1:${httpPort}`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', d => { logs += d; });
  proc.stderr.on('data', d => { logs += d; });
  await ready(httpPort, 60000);
  client = new MilvusClient({ address: `127.0.0.1:${port}`, logLevel: 'error' });
  await client.connectPromise;
});

after(async () => {
  if (client) await client.closeConnection();
  if (proc && proc.exitCode === null) {
    const exited = new Promise(r => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

function ok(status, what) {
  assert.equal(status.error_code, 'Success', `${what}: ${JSON.stringify(status)}`);
}

function vec(i) {
  const v = [0.1, 0.1, 0.1, 0.1];
  v[i % DIM] = 1 + i / 100;
  return v;
}

test('GetVersion answers a Milvus 2.6 version', async () => {
  const v = await client.getVersion();
  ok(v.status, 'getVersion');
  assert.match(v.version, /^v2\.6\.\d+$/);
});

test('create a collection with the dynamic field, index and load it', async () => {
  ok(await client.createCollection({
    collection_name: COLL,
    enable_dynamic_field: true,
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'vec', data_type: DataType.FloatVector, dim: DIM },
      { name: 'title', data_type: DataType.VarChar, max_length: 64 },
    ],
  }), 'createCollection');
  ok(await client.createIndex({
    collection_name: COLL, field_name: 'vec', index_type: 'FLAT', metric_type: 'L2',
  }), 'createIndex');
  ok(await client.loadCollectionSync({ collection_name: COLL }), 'loadCollectionSync');
});

test('insert rows with dynamic keys', async () => {
  const data = [1, 2, 3, 4, 5, 6].map(i => ({
    id: i, vec: vec(i), title: `t${i}`, color: i % 2 ? 'red' : 'blue', n: i * 10,
  }));
  const res = await client.insert({ collection_name: COLL, data });
  ok(res.status, 'insert');
  assert.equal(Number(res.insert_cnt), 6);
  assert.deepEqual(res.IDs.int_id.data.map(Number), [1, 2, 3, 4, 5, 6]);
});

test('search returns ids and output fields, dynamic keys flattened', async () => {
  const res = await client.search({
    collection_name: COLL, data: vec(2), limit: 3, output_fields: ['title', 'color', 'n'],
  });
  ok(res.status, 'search');
  assert.equal(res.results.length, 3);
  const top = res.results[0];
  assert.equal(String(top.id), '2', `top hit ${JSON.stringify(top)}`);
  assert.equal(top.title, 't2');
  assert.equal(top.color, 'blue');
  assert.equal(top.n, 20);
  for (const hit of res.results) {
    assert.ok(hit.id !== undefined, `hit without id: ${JSON.stringify(hit)}`);
    assert.equal(hit.title, `t${hit.id}`);
    assert.equal('$meta' in hit, false, `hit with $meta: ${JSON.stringify(hit)}`);
  }
});

test('search with a filter and the default output fields returns ids', async () => {
  const res = await client.search({
    collection_name: COLL, data: [vec(1), vec(4)], limit: 2, filter: 'color == "blue"',
  });
  ok(res.status, 'search');
  assert.equal(res.results.length, 2);
  assert.deepEqual(res.results.map(hits => String(hits[0].id)), ['2', '4']);
  for (const hits of res.results) {
    for (const hit of hits) {
      assert.equal(hit.title, `t${hit.id}`);
      assert.equal(hit.$meta.color, 'blue', `hit ${JSON.stringify(hit)}`);
    }
  }
});

test('query with a filter', async () => {
  const res = await client.query({
    collection_name: COLL, filter: 'id > 3 and n < 60', output_fields: ['title', 'color'],
  });
  ok(res.status, 'query');
  const rows = res.data.map(r => [String(r.id), r.title, r.$meta && r.$meta.color]);
  rows.sort();
  assert.deepEqual(rows, [['4', 't4', 'blue'], ['5', 't5', 'red']]);
  const count = await client.count({ collection_name: COLL, expr: 'color == "red"' });
  assert.equal(count.data, 3);
});

test('describe hides $meta; the described schema re-creates the collection', async () => {
  const d = await client.describeCollection({ collection_name: COLL });
  ok(d.status, 'describeCollection');
  assert.equal(d.schema.enable_dynamic_field, true);
  assert.deepEqual(d.schema.fields.map(f => f.name), ['id', 'vec', 'title']);
  // A described field carries its type parameters twice (type_params and
  // top-level keys such as dim); the SDK takes the top-level ones.
  const fields = d.schema.fields.map(({ type_params, index_params, ...f }) => f);
  ok(await client.createCollection({
    collection_name: COPY, fields, enable_dynamic_field: d.schema.enable_dynamic_field,
  }), 'createCollection from the described schema');
  const copy = await client.describeCollection({ collection_name: COPY });
  ok(copy.status, 'describeCollection copy');
  assert.equal(copy.schema.enable_dynamic_field, true);
  assert.deepEqual(copy.schema.fields.map(f => [f.name, f.data_type, f.is_primary_key]),
    d.schema.fields.map(f => [f.name, f.data_type, f.is_primary_key]));
  ok(await client.dropCollection({ collection_name: COPY }), 'dropCollection copy');
});

test('delete by filter and by ids', async () => {
  const byFilter = await client.delete({ collection_name: COLL, filter: 'id in [1, 2]' });
  ok(byFilter.status, 'delete by filter');
  const byIds = await client.delete({ collection_name: COLL, ids: [3] });
  ok(byIds.status, 'delete by ids');
  const res = await client.query({ collection_name: COLL, filter: 'id > 0', output_fields: ['id'] });
  ok(res.status, 'query');
  assert.deepEqual(res.data.map(r => Number(r.id)).sort(), [4, 5, 6]);
  const hits = await client.search({ collection_name: COLL, data: vec(2), limit: 10 });
  ok(hits.status, 'search');
  assert.deepEqual(hits.results.map(h => Number(h.id)).sort(), [4, 5, 6]);
});

// A second collection for the iterators: keys inserted shuffled (Milvus
// answers queries in key order, which both iterators rely on) and only
// five distinct vectors, so that most search scores tie.
const ITER = 'node_iter';
const ITER_N = 120;

function shuffled(n, seed) {
  const a = Array.from({ length: n }, (_, i) => i);
  let s = seed;
  for (let i = n - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

test('simple createCollection, hasCollection, listCollections, describeIndex', async () => {
  ok(await client.createCollection({
    collection_name: ITER, dimension: DIM, metric_type: 'L2',
  }), 'createCollection (simple)');
  const has = await client.hasCollection({ collection_name: ITER });
  ok(has.status, 'hasCollection');
  assert.equal(has.value, true);
  const absent = await client.hasCollection({ collection_name: 'node_absent' });
  assert.equal(absent.value, false);
  const list = await client.listCollections();
  ok(list.status, 'listCollections');
  assert.ok(list.data.some(c => c.name === ITER), JSON.stringify(list.data));
  const idx = await client.describeIndex({ collection_name: ITER });
  ok(idx.status, 'describeIndex');
  assert.equal(idx.index_descriptions.length, 1);
  assert.equal(idx.index_descriptions[0].field_name, 'vector');
  ok(await client.loadCollectionSync({ collection_name: ITER }), 'loadCollectionSync');
  const keys = shuffled(ITER_N, 9);
  for (const part of [keys.slice(0, ITER_N / 2), keys.slice(ITER_N / 2)]) {
    const data = part.map(k => ({ id: k, vector: [k % 5, 1, 0.5, (k % 5) / 2], n: k }));
    const res = await client.insert({ collection_name: ITER, data });
    ok(res.status, 'insert');
  }
  const count = await client.count({ collection_name: ITER });
  assert.equal(count.data, ITER_N);
});

test('queryIterator returns every row once, in key order', async () => {
  const it = await client.queryIterator({
    collection_name: ITER, batchSize: 17, output_fields: ['id', 'n'],
  });
  const got = [];
  for await (const page of it) {
    got.push(...page.map(r => Number(r.id)));
  }
  assert.deepEqual(got, Array.from({ length: ITER_N }, (_, i) => i));
  const lim = await client.queryIterator({
    collection_name: ITER, batchSize: 7, limit: 20, filter: 'n % 2 == 0', output_fields: ['id'],
  });
  const even = [];
  for await (const page of lim) {
    even.push(...page.map(r => Number(r.id)));
  }
  assert.deepEqual(even, Array.from({ length: 20 }, (_, i) => 2 * i));
});

test('searchIterator (v2) returns every row once, in score order', async () => {
  const it = await client.searchIterator({
    collection_name: ITER, data: [2, 1, 1, 0.5], batchSize: 13, output_fields: ['n'],
  });
  const ids = [];
  const scores = [];
  for await (const page of it) {
    for (const hit of page) {
      ids.push(Number(hit.id));
      scores.push(hit.score);
      assert.equal(Number(hit.n), Number(hit.id));
    }
  }
  assert.equal(ids.length, ITER_N);
  assert.equal(new Set(ids).size, ITER_N);
  for (let i = 1; i < scores.length; i++) {
    assert.ok(scores[i] >= scores[i - 1], `scores out of order at ${i}: ${scores[i - 1]} ${scores[i]}`);
  }
  const lim = await client.searchIterator({
    collection_name: ITER, data: [2, 1, 1, 0.5], batchSize: 8, limit: 30, filter: 'n < 50',
  });
  let n = 0;
  for await (const page of lim) {
    for (const hit of page) {
      assert.ok(Number(hit.id) < 50);
      n++;
    }
  }
  assert.equal(n, 30);
});

test('getMetric answers system_info as JSON', async () => {
  const res = await client.getMetric({ request: { metric_type: 'system_info' } });
  ok(res.status, 'getMetric');
  assert.ok(Array.isArray(res.response.nodes_info), JSON.stringify(res.response));
  assert.equal(res.response.nodes_info[0].infos.type, 'proxy');
});
