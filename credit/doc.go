// Package credit is cairn's credit economy as a pure core: transfer
// receipts (kind 7772) signed by the receiver of the bytes, the rules that
// decide which receipts count, a hash-chained ledger, and balance proofs
// another peer can check on its own. No I/O, no goroutines, no clock: the
// caller passes events and now in and acts on what comes out.
//
// Entropy has the seeder sign its own receipt, which proves nothing. Here
// the receiver signs one after a chunk verifies, naming the seeder (p), the
// chunk (x), the bytes, the time (receipt) and the root (x-hash), in
// Entropy's tag shape so its readers parse it, and sends it back over the
// same stream (wire message 0x07). The seeder's loop:
//
//	book := credit.NewBook(myPubkey)
//	// a chunk of n bytes was served to peer:
//	book.Served(peer, chunk, n, now)
//	// its RECEIPT arrives:
//	r, _, err := credit.DecodeReceipt(json)   // signature and shape
//	if err == nil {
//		r, err = book.Accept(r, now)          // err names the refusal
//	}
//	if err == nil {
//		store(ledger.Append(credit.Credit(r, id)))
//	}
//
// The receiver's loop: after a chunk verifies, sign ReceiptEvent(...) and
// send it; store(ledger.Append(credit.Debit(...))).
//
// What a Sybil can gain: a receipt is only as good as its signer. Keys made
// to sign receipts for oneself each carry the welcome grant and nothing
// more, so VerifyProof counts at most WelcomeGrant of credit from any one
// signer (plus nothing a verifier cannot see): a thousand fresh keys buy
// what a thousand fresh keys could have downloaded themselves, and no
// more.
package credit
