// Times the browser core's start under Node, as a page starts it: compile,
// instantiate, and Go's runtime, package initialisers and main up to
// onCairnReady. Node compiles wasm functions lazily, on first call, as
// Chromium does, so "run to ready" includes compiling what start-up runs.
//   node wasm/startup.mjs web/static [file.wasm]   (default web/static/cairn.wasm)
import { readFile } from "node:fs/promises";
import { join } from "node:path";

const dir = process.argv[2] ?? "web/static";
const file = process.argv[3] ?? join(dir, "cairn.wasm");
await import(join(process.cwd(), dir, "wasm_exec.js"));
const bytes = await readFile(file);
const t0 = performance.now();
const mod = await WebAssembly.compile(bytes);
const t1 = performance.now();
const ready = new Promise((resolve) => { globalThis.onCairnReady = resolve; });
const go = new globalThis.Go();
const instance = await WebAssembly.instantiate(mod, go.importObject);
const t2 = performance.now();
go.run(instance);
await Promise.race([ready, new Promise((_, rej) => setTimeout(() => rej(new Error("no onCairnReady in 30 s")), 30000))]);
const t3 = performance.now();
console.log(`${file}: compile ${(t1 - t0).toFixed(0)} ms, instantiate ${(t2 - t1).toFixed(0)} ms, run to ready ${(t3 - t2).toFixed(0)} ms`);
process.exit(0);
