// Preloaded by exec.sh before Go's wasm_exec_node.js: gives Node (which has
// no IndexedDB) the fake-indexeddb implementation as globalThis.indexedDB,
// so the browser core's IndexedDB code runs in `go test` under Node.
try {
  await import("fake-indexeddb/auto");
} catch (e) {
  console.error("wasm/idbshim.mjs: fake-indexeddb is missing (" + e.message + "); run `make deps-npm`");
  process.exit(2);
}
