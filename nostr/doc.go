// Package nostr is the Nostr vocabulary every cairn package that the browser
// core links speaks: events, tags, filters, timestamps, keys, kinds and the
// NIP-19 pointers.
//
// Natively its names are go-nostr's own (type aliases and the same
// functions), so the relay, the store and the application core share one
// type with go-nostr's relay and store code. In the browser build
// (GOOS=js) it is a small implementation of the same names and behaviour:
// go-nostr's root package also links a relay pool, net/http, websockets,
// json-iterator and gjson, which more than doubled the size of the wasm
// core. Both builds run this package's tests against the same vectors.
//
//	var ev nostr.Event
//	ev.Kind, ev.CreatedAt, ev.Content = 1, nostr.Now(), "hello"
//	err := ev.Sign(secretHex)        // sets PubKey, ID and Sig
//	ok, err := ev.CheckSignature()   // recomputes the id, checks BIP-340
package nostr
