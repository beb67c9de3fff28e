// Package idb keeps the browser's media chunks in IndexedDB: a
// blobstore.Blobs with the node's rules (verified Put, a byte quota kept by
// evicting the least recently used unpinned chunks, pins with reasons,
// stats), so the swarm, the webrtc server and the wasm API use it as the
// node uses its blob directory.
//
// The rules are the node's own: a blobstore/index.Index (sizes, recency,
// pins, which chunks to evict), pure and tested natively. The IndexedDB
// edge (store_js.go, GOOS=js only) keeps four object stores, keyed by the
// chunk's hex hash except files:
//
//	blobs   the bytes (a Uint8Array)
//	meta    {size, used}: used is the last access in Unix milliseconds,
//	        persisted at most once per index.PersistEvery (a minute) per
//	        chunk, so the LRU order survives a reload to within a minute
//	pins    the pin reasons (an array of strings), kept even while the
//	        chunk is absent, as blobstore's pins are
//	files   small records about whole files (strings, keyed by the
//	        caller: the wasm API keeps each file's chunk map there)
//
// Open reads meta and pins into the index; Has, Size, List and Stats answer
// from it, the rest wait for IndexedDB. IndexedDB is asynchronous: every
// method that touches it waits on a channel for the request's callback, so
// it must run on a goroutine of its own, never inside a js.Func callback.
//
// This file builds everywhere so that the package has its doc natively
// too; the Store itself exists only under GOOS=js.
package idb
