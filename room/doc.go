// Package room is the pure core of cairn's rooms: the authority log of a
// room, its replay into an access-control state, and the checks a room's
// messages pass. No I/O except through [Storage], no goroutines, no clock:
// the caller passes events and now in and acts on what comes out.
//
// Everything is a signed Nostr event carrying the room id in NIP-29's h
// tag. The room is created by a kind 9007 (create-group) genesis whose id
// [RoomID] binds the creator's pubkey, the room's name and a nonce. Every
// later change of authority is an entry of the log: kind 9000 (put-user:
// GRANT), 9001 (remove-user: REVOKE, BAN with a ban tag, UNBAN with an
// unban tag), 9002 (edit-metadata: SET_POLICY, or DEFINE_ROLE with a
// role tag), 9009 (create-invite: INVITE, a code that admits joiners) and
// cairn's 9018 (SEQUENCE: the creator's sequencer mode, in which others'
// changes wait for the creator's countersignature unless the creator has
// been absent long enough). Each entry names the entry it extends (prev, its event id),
// its height (seq) and a Lamport time (lamport). docs/PROTOCOL.md, "Rooms:
// the authority log", is the wire reference.
//
// Replay orders the entries it is given into one deterministic sequence
// (an entry after the entry it extends; among entries that are ready at
// the same point, lower Lamport time first, then lower pubkey, then lower
// id) and applies each one only if its signer held the capability at that
// point. What it refuses it reports with the reason. The caller's loop:
//
//	events, _ := storage.Load(roomID)
//	log, err := room.Replay(roomID, events, now)   // err: no valid genesis
//	for _, r := range log.Rejected { ... }         // r.ID, r.Err (errors.Is sentinels)
//	state := log.State                             // who holds which role, the policy
//	if err := state.MayPost(msg); err != nil { ... refuse the message ... }
//
//	// to act: build on the log's tip, sign, store, replay again
//	ev := room.NewEntry(roomID, log.Tip(), room.Grant(pubkey, room.RoleMod), now)
//	signer.Sign(ev)
//	storage.Append(roomID, ev)
//
// A client that writes no chain tags (NIP-29's) sends requests instead: a
// host places each one with [Log.Place], signing the entry at its tip that
// embeds the request, and Replay checks the request's signer.
//
// Replay is a function of the set of events, not of their order: two peers
// holding the same entries reach the same state, whatever order they
// received them in.
package room
