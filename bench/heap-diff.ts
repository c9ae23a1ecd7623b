/**
 * What a server's heap holds per connection: two V8 heap snapshots of one server (the memory phase's
 * BENCH_HEAP_SNAPSHOTS, at its baseline and its last step) compared by the kind of object, as the
 * self size and count added between them, divided by the connections added.
 *
 *   npx tsx bench/heap-diff.ts <base.heapsnapshot> <after.heapsnapshot> <connections added> [top=40]
 *
 * Self sizes only (no retained sizes): each object counts once, under its own kind, so the lines add
 * up to the heap's growth. Strings and numbers are one kind each; arrays and V8's internals are
 * named by V8's own label ("(object properties)", "system / Map" …).
 */
import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size and count by kind. */
function tally(file: string): Map<string, { size: number; count: number }> {
  const s = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = [fields.indexOf("type"), fields.indexOf("name"), fields.indexOf("self_size")];
  const byKind = new Map<string, { size: number; count: number }>();
  const whole = new Set(["string", "concatenated string", "sliced string", "number", "bigint"]);
  for (let i = 0; i < s.nodes.length; i += fields.length) {
    const type = types[s.nodes[i + typeAt]!]!;
    const name = s.strings[s.nodes[i + nameAt]!]!;
    const kind = whole.has(type) ? `(${type})` : `${type}: ${name.slice(0, 60)}`;
    const k = byKind.get(kind) ?? { size: 0, count: 0 };
    k.size += s.nodes[i + sizeAt]!;
    k.count += 1;
    byKind.set(kind, k);
  }
  return byKind;
}

const [baseFile, afterFile, addedArg, topArg] = process.argv.slice(2);
if (!baseFile || !afterFile || !addedArg) throw new Error("usage: heap-diff.ts <base.heapsnapshot> <after.heapsnapshot> <connections added> [top]");
const added = Number(addedArg);
const base = tally(baseFile);
const after = tally(afterFile);
const rows = [...after].map(([kind, a]) => {
  const b = base.get(kind) ?? { size: 0, count: 0 };
  return { kind, bytes: (a.size - b.size) / added, count: (a.count - b.count) / added };
});
rows.sort((x, y) => y.bytes - x.bytes);
const total = rows.reduce((sum, r) => sum + r.bytes, 0);
console.log(`heap growth per connection: ${total.toFixed(0)} B over ${added} connections`);
console.log("bytes/conn  objects/conn  kind");
for (const r of rows.slice(0, Number(topArg ?? 40))) console.log(`${r.bytes.toFixed(1).padStart(10)}  ${r.count.toFixed(2).padStart(12)}  ${r.kind}`);
