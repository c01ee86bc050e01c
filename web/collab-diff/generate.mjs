// Records what @codemirror/state and @codemirror/collab compute for random change sets, as the
// fixture of the C++ differential test (tests/unit/changeset_diff_test.cpp), which must
// reproduce every result byte for byte.
//
//   node collab-diff/generate.mjs [out.json]     (default: stdout)
//
// Deterministic: a fixed seed and a seeded PRNG, so the output only changes when the generator
// or the pinned @codemirror packages change; scripts/test.sh (web stage) regenerates it and
// fails when it differs from the committed tests/unit/data/changeset_diff.json.
//
// Documents and insertions mix ASCII, two- and three-byte characters, astral characters
// (surrogate pairs in UTF-16), newlines, tabs, quotes and backslashes; positions are chosen at
// code point boundaries, often the same ones, so edits at the same position are frequent.
import { rebaseUpdates } from '@codemirror/collab';
import { ChangeSet, Text } from '@codemirror/state';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SEED = 0x11c0de;
const CASES = 2500;
const LONG_CASES = 250; // longer documents, more edits per change set
const REBASE_CASES = 600;

// mulberry32
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(SEED);
const int = (n) => Math.floor(rand() * n); // 0..n-1
const pick = (xs) => xs[int(xs.length)];

const ALPHABET = [
  'a', 'b', 'c', 'd', 'e', 'x', ' ', ' ', '\n', '\n', 'é', 'ß', '中', '€',
  '😀', '𝄞', '🎉', '\t', '"', '\\',
];
function randomString(maxCodePoints) {
  let s = '';
  for (let n = int(maxCodePoints + 1); n > 0; n--) s += pick(ALPHABET);
  return s;
}

// Code unit offsets that are code point boundaries of s (0 and s.length included).
function boundaries(s) {
  const out = [0];
  for (let i = 0; i < s.length; ) {
    const c = s.charCodeAt(i);
    i += c >= 0xd800 && c < 0xdc00 ? 2 : 1;
    out.push(i);
  }
  return out;
}

function textOf(s) {
  return Text.of(s.split('\n'));
}

// A random change set for text s, built as an editor would (ChangeSet.of with 0..maxSpecs
// possibly overlapping, unsorted specs), sometimes rewritten into an equivalent but non-normalized JSON
// form (split kept ranges, [len, ""] deletions) that CodeMirror's fromJSON keeps as given.
function randomChanges(s, maxSpecs = 3) {
  const bounds = boundaries(s);
  // A few favoured positions make edits at the same place frequent.
  const hot = [pick(bounds), pick(bounds)];
  const pos = () => (rand() < 0.5 ? pick(hot) : pick(bounds));
  const specs = [];
  for (let n = int(maxSpecs + 1); n > 0; n--) {
    let from = pos();
    let to = rand() < 0.5 ? from : pos();
    if (to < from) [from, to] = [to, from];
    specs.push({ from, to, insert: rand() < 0.2 ? '' : randomString(4) });
  }
  let cs = ChangeSet.of(specs, s.length);
  if (rand() < 0.25) cs = ChangeSet.fromJSON(denormalize(cs.toJSON(), s));
  return cs;
}

function denormalize(json, s) {
  const bounds = new Set(boundaries(s));
  const out = [];
  let at = 0;
  for (const part of json) {
    const len = typeof part == 'number' ? part : part[0];
    const cut = at + 1 + int(Math.max(len - 1, 1));
    const splittable = len > 1 && bounds.has(cut);
    if (typeof part == 'number' && splittable && rand() < 0.6) {
      out.push(cut - at, at + len - cut);
    } else if (Array.isArray(part) && part.length == 1 && rand() < 0.5) {
      if (splittable && rand() < 0.5) out.push([cut - at], [at + len - cut]);
      else out.push([len, '']);
    } else {
      out.push(part);
    }
    at += len;
  }
  return out;
}

function mapCase(maxDoc = 24, maxSpecs = 3) {
  const doc = randomString(rand() < 0.1 ? 0 : maxDoc);
  const a = randomChanges(doc, maxSpecs);
  const b = randomChanges(doc, maxSpecs);
  const afterA = a.apply(textOf(doc)).toString();
  const c = randomChanges(afterA, maxSpecs);
  const bMapped = b.map(a);
  return {
    doc,
    a: a.toJSON(),
    b: b.toJSON(),
    c: c.toJSON(),
    applyA: afterA,
    mapAB: a.map(b).toJSON(),
    mapABBefore: a.map(b, true).toJSON(),
    mapDescAB: a.desc.mapDesc(b.desc).toJSON(),
    composeAC: a.compose(c).toJSON(),
    composeDescAC: a.desc.composeDesc(c.desc).toJSON(),
    composedDoc: a.compose(c).apply(textOf(doc)).toString(),
    converged: a.compose(bMapped).apply(textOf(doc)).toString(),
    convergedOther: b.compose(a.map(b, true)).apply(textOf(doc)).toString(),
  };
}

// A server authority as @codemirror/collab's docs describe it: it keeps every accepted update
// and rebases a push against an older version over the updates accepted since (one at a time).
function rebaseCase() {
  const start = randomString(rand() < 0.1 ? 0 : 16);
  const docs = [start]; // text at each version
  const accepted = []; // {changes, clientID}
  const lastOwn = { p: 0, q: 0 };
  const pushes = [];
  const push = (base, clientID, changes) => {
    const over = accepted.slice(base);
    const updates = changes.map((c) => ({ changes: c, clientID }));
    // What rebaseUpdates computes over all the updates accepted since, at once ...
    const batched = rebaseUpdates(updates, over);
    // ... and over one accepted update at a time, which is what the authority appends (its
    // clients apply received updates one receiveUpdates call at a time; see docs/collab.md).
    let rebased = updates;
    for (const u of over) rebased = rebaseUpdates(rebased, [u]);
    for (const u of rebased) {
      docs.push(u.changes.apply(textOf(docs[docs.length - 1])).toString());
      accepted.push({ changes: u.changes, clientID: u.clientID });
    }
    pushes.push({
      base,
      clientID,
      changes: changes.map((c) => c.toJSON()),
      batched: batched.map((u) => u.changes.toJSON()),
      accepted: rebased.map((u) => u.changes.toJSON()),
    });
    return rebased.length;
  };
  // Client x edits from version 0 and never receives its acknowledgements: every push
  // re-sends all its updates against version 0.
  const own = [];
  let local = start;
  for (let n = 1 + int(4); n > 0; n--) {
    const c = rand() < 0.1 ? ChangeSet.empty(local.length) : randomChanges(local);
    own.push(c);
    local = c.apply(textOf(local)).toString();
  }
  let sent = 0;
  for (let steps = 1 + int(6); steps > 0; steps--) {
    if (rand() < 0.35 && sent < own.length) {
      sent += 1 + int(own.length - sent);
      push(0, 'x', own.slice(0, sent));
    } else {
      // Another client, up to date or a few versions behind (never behind its own
      // accepted updates, as a real client would be after their acknowledgement).
      const id = pick(['p', 'q']);
      const v = docs.length - 1;
      const base = Math.max(lastOwn[id], v - int(4), 0);
      if (push(base, id, [randomChanges(docs[base])])) lastOwn[id] = docs.length - 1;
    }
  }
  push(0, 'x', own);
  return { doc: start, pushes, text: docs[docs.length - 1] };
}

const webRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const version = (name) =>
  JSON.parse(readFileSync(join(webRoot, 'node_modules', name, 'package.json'), 'utf8')).version;

const cases = [];
for (let i = 0; i < CASES; i++) cases.push(mapCase());
for (let i = 0; i < LONG_CASES; i++) cases.push(mapCase(80, 8));
const rebase = [];
for (let i = 0; i < REBASE_CASES; i++) rebase.push(rebaseCase());

// One case per line keeps the committed fixture diffable.
const header = {
  generator: 'web/collab-diff/generate.mjs',
  seed: SEED,
  '@codemirror/state': version('@codemirror/state'),
  '@codemirror/collab': version('@codemirror/collab'),
};
const lines = [
  '{',
  ...Object.entries(header).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)},`),
  '"cases": [',
  cases.map((c) => JSON.stringify(c)).join(',\n'),
  '],',
  '"rebase": [',
  rebase.map((c) => JSON.stringify(c)).join(',\n'),
  ']',
  '}',
  '',
];
const out = lines.join('\n');
if (process.argv[2]) writeFileSync(process.argv[2], out);
else process.stdout.write(out);
