// Loads the built bundle the way a page does (wasm_exec.js, then
// WebAssembly.instantiate and go.run) and calls globalThis.cairn once per
// function. `make test-wasm` runs it after `make build-wasm`:
//   node wasm/smoke.mjs web/static
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createHash } from "node:crypto";

const dir = process.argv[2] ?? "web/static";
const fail = (msg) => { console.error("wasm smoke: " + msg); process.exit(1); };

await import(join(process.cwd(), dir, "wasm_exec.js"));
const ready = new Promise((resolve) => { globalThis.onCairnReady = resolve; });
const go = new globalThis.Go();
const { instance } = await WebAssembly.instantiate(await readFile(join(dir, "cairn.wasm")), go.importObject);
go.run(instance).then(() => fail("main returned"));
await Promise.race([ready, new Promise((_, rej) => setTimeout(() => rej(new Error("no onCairnReady in 10 s")), 10000))]);

const c = globalThis.cairn;
if (typeof c.version() !== "string" || c.version() === "") fail("version()");
const leaf = createHash("sha256").update("x").digest("hex");
if (c.merkleRoot([leaf]).root === undefined) fail("merkleRoot: " + JSON.stringify(c.merkleRoot([leaf])));
const plan = c.planFixed(11, 5);
const cut = (plan.chunks ?? []).map((r) => `${r.offset}+${r.length}`).join(",");
if (cut !== "0+5,5+5,10+1") fail("planFixed: " + JSON.stringify(plan));
if (typeof c.parseChunkMap("{}").error !== "string") fail("parseChunkMap accepted {}");
const data = new TextEncoder().encode("hello, cairn");
if (await c.sha256(data) !== createHash("sha256").update(data).digest("hex")) fail("sha256");
console.log(`wasm smoke: ok (version ${c.version()})`);
process.exit(0);
