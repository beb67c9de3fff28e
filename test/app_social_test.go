package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/test/harness"
)

// TestAppSocial: the social screen, as a user works it, against a node
// that another user (Bob, any Nostr client) also posts to. An empty note
// and a bad key to follow are refused with a message. The tab names
// itself, posts, finds Bob under Everyone (his kind 0 name shown), follows
// him, likes, reposts, quotes and replies to his note, mentions him;
// each action is checked as the event the node stored (kind 3, 7, 6, 1 with
// q, 1 with NIP-10 root marker and p tags). The home timeline then shows
// Bob's next note live and not Carol's, who is not followed; a draft reply
// is not wiped by what arrives meanwhile; the thread
// page shows Bob's note, the tab's reply and Bob's answer nested under it;
// unfollowing leaves a kind 3 without Bob.
func TestAppSocial(t *testing.T) {
	n := harness.Start(t, "--webrtc-loopback")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, n.WSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type user struct{ sk, pk, npub string }
	mk := func() user {
		sk := nostr.GeneratePrivateKey()
		pk, _ := nostr.GetPublicKey(sk)
		np, _ := nip19.EncodePublicKey(pk)
		return user{sk, pk, np}
	}
	bob, carol := mk(), mk()
	at := nostr.Now()
	post := func(u user, kind int, content string, tags nostr.Tags) *nostr.Event {
		t.Helper()
		at++
		ev := &nostr.Event{Kind: kind, CreatedAt: at, Tags: tags, Content: content}
		if err := ev.Sign(u.sk); err != nil {
			t.Fatal(err)
		}
		if err := c.Publish(ctx, "EVENT", ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	post(bob, 0, `{"name":"Bob"}`, nostr.Tags{})
	post(carol, 0, `{"name":"Carol"}`, nostr.Tags{})
	bobNote := post(bob, 1, "hello from Bob", nostr.Tags{})

	b := harness.NewBrowser(t)
	b.Open(n.URL + "/social?loopback=1")
	b.WaitFor(45*time.Second, coreReadyJS+` && !!document.querySelector('#post-text') && document.getElementById('me')?.textContent.startsWith('You are')`)
	var me string
	b.Eval(`cairn.status().pubkey`, &me)
	bctx, bcancel := context.WithTimeout(b.Context(), 3*time.Minute)
	defer bcancel()
	do := func(what string, acts ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, acts...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// stored waits for the node to hold an event of the tab's matching f
	// and check.
	stored := func(what string, f nostr.Filter, check func(*nostr.Event) bool) *nostr.Event {
		t.Helper()
		f.Authors = []string{me}
		deadline := time.Now().Add(30 * time.Second)
		for {
			evs, err := c.Query(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				if check(ev) {
					return ev
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the node never stored %s: %v", what, evs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	hasTag := func(ev *nostr.Event, tag ...string) bool {
		return slices.ContainsFunc(ev.Tags, func(t nostr.Tag) bool { return len(t) >= len(tag) && slices.Equal(t[:len(tag)], tag) })
	}
	noteJS := func(id string) string {
		return fmt.Sprintf(`document.querySelector('ul.social li.note[data-id=%q]:not([data-repost])')`, id)
	}
	act := func(id, which string) {
		t.Helper()
		b.WaitFor(20*time.Second, fmt.Sprintf(`!!%s?.querySelector('button[data-act=%q]:not([disabled])')`, noteJS(id), which))
		b.Eval(fmt.Sprintf(`(%s.querySelector('button[data-act=%q]').click(), true)`, noteJS(id), which), nil)
	}

	// Bad input: an empty note, a key that is not one.
	b.Eval(`(document.querySelector('details').open = true)`, nil)
	do("posting nothing", chromedp.Click(`form.compose button[type="submit"]`))
	b.WaitFor(10*time.Second, `document.querySelector('.notice.error')?.textContent === 'Write something first.'`)
	do("following a bad key", chromedp.SendKeys("#follow-key", "npub1nope"), chromedp.Click(`#follow-key ~ button[type="submit"]`))
	b.WaitFor(10*time.Second, `document.querySelector('.notice.error')?.textContent.startsWith('That is not a public key')`)

	// A name, then a first note.
	do("saving a profile", chromedp.SendKeys("#profile-name", "Alice"), chromedp.Click(`#profile-name ~ .row button[type="submit"]`))
	stored("the tab's kind 0", nostr.Filter{Kinds: []int{0}}, func(ev *nostr.Event) bool { return strings.Contains(ev.Content, `"name":"Alice"`) })
	do("posting", chromedp.SendKeys("#post-text", "first note from the tab"), chromedp.Click(`form.compose button[type="submit"]`))
	b.WaitFor(20*time.Second, `[...document.querySelectorAll('ul.social li.note')].some(li => li.textContent.includes('first note from the tab') && li.textContent.includes('Alice'))`)

	// Bob under Everyone, by name; follow him.
	b.Eval(`(document.getElementById('tab-all').click(), true)`, nil)
	b.WaitFor(20*time.Second, fmt.Sprintf(`!!%s && %s.querySelector('.who').textContent === 'Bob'`, noteJS(bobNote.ID), noteJS(bobNote.ID)))
	act(bobNote.ID, "follow")
	stored("a kind 3 following Bob", nostr.Filter{Kinds: []int{3}}, func(ev *nostr.Event) bool { return hasTag(ev, "p", bob.pk) })
	b.WaitFor(20*time.Second, fmt.Sprintf(`!!%s?.querySelector('button[data-act=unfollow]')`, noteJS(bobNote.ID)))

	// Like, repost.
	act(bobNote.ID, "like")
	stored("a like of Bob's note", nostr.Filter{Kinds: []int{7}}, func(ev *nostr.Event) bool {
		return ev.Content == "+" && hasTag(ev, "e", bobNote.ID) && hasTag(ev, "p", bob.pk)
	})
	b.WaitFor(20*time.Second, fmt.Sprintf(`%s?.querySelector('button[data-act=like]')?.textContent === '♥ 1'`, noteJS(bobNote.ID)))
	act(bobNote.ID, "repost")
	stored("a repost of Bob's note", nostr.Filter{Kinds: []int{6}}, func(ev *nostr.Event) bool {
		var inner nostr.Event
		return hasTag(ev, "e", bobNote.ID) && hasTag(ev, "p", bob.pk) && inner.UnmarshalJSON([]byte(ev.Content)) == nil && inner.ID == bobNote.ID
	})
	b.WaitFor(20*time.Second, fmt.Sprintf(`%s?.querySelector('button[data-act=repost]')?.textContent === '↻ 1'`, noteJS(bobNote.ID)))

	// Quote, reply.
	act(bobNote.ID, "quote")
	do("quoting", chromedp.SendKeys(`li.note[data-id="`+bobNote.ID+`"]:not([data-repost]) textarea.quote-text`, "worth reading"),
		chromedp.Click(`li.note[data-id="`+bobNote.ID+`"]:not([data-repost]) form.compose button[type="submit"]`))
	quote := stored("a quote of Bob's note", nostr.Filter{Kinds: []int{1}}, func(ev *nostr.Event) bool {
		return hasTag(ev, "q", bobNote.ID) && strings.HasPrefix(ev.Content, "worth reading") && strings.Contains(ev.Content, "nostr:nevent1")
	})
	b.WaitFor(20*time.Second, fmt.Sprintf(`!!%s?.querySelector('blockquote.quote[data-id=%q]')`, noteJS(quote.ID), bobNote.ID))
	act(bobNote.ID, "reply")
	do("replying", chromedp.SendKeys(`li.note[data-id="`+bobNote.ID+`"]:not([data-repost]) textarea.reply-text`, "a reply to Bob"),
		chromedp.Click(`li.note[data-id="`+bobNote.ID+`"]:not([data-repost]) form.compose button[type="submit"]`))
	reply := stored("a reply to Bob's note", nostr.Filter{Kinds: []int{1}}, func(ev *nostr.Event) bool { return ev.Content == "a reply to Bob" })
	if !slices.ContainsFunc(reply.Tags, func(t nostr.Tag) bool { return len(t) >= 4 && t[0] == "e" && t[1] == bobNote.ID && t[3] == "root" }) {
		t.Fatalf("the reply has no NIP-10 root tag: %v", reply.Tags)
	}
	if !hasTag(reply, "p", bob.pk) {
		t.Fatalf("the reply does not p-tag Bob: %v", reply.Tags)
	}

	// A mention.
	do("mentioning", chromedp.SendKeys("#post-text", "thanks @"+bob.npub), chromedp.Click(`form.compose button[type="submit"]`))
	mention := stored("a note mentioning Bob", nostr.Filter{Kinds: []int{1}}, func(ev *nostr.Event) bool { return strings.HasPrefix(ev.Content, "thanks ") })
	if mention.Content != "thanks nostr:"+bob.npub || !hasTag(mention, "p", bob.pk) {
		t.Fatalf("the mention: %q %v", mention.Content, mention.Tags)
	}
	b.WaitFor(20*time.Second, fmt.Sprintf(`%s?.querySelector('.content')?.textContent === 'thanks @Bob'`, noteJS(mention.ID)))

	// Home: Bob's next note arrives live; Carol's, not followed, is not shown.
	b.Eval(`(document.getElementById('tab-home').click(), true)`, nil)
	b.WaitFor(20*time.Second, fmt.Sprintf(`document.getElementById('tab-home').getAttribute('aria-pressed') === 'true' && !!%s`, noteJS(bobNote.ID)))
	carolNote := post(carol, 1, "Carol is not followed", nostr.Tags{})
	bobNext := post(bob, 1, "Bob again, live", nostr.Tags{})
	b.WaitFor(20*time.Second, fmt.Sprintf(`!!%s`, noteJS(bobNext.ID)))
	var carolShown bool
	b.Eval(fmt.Sprintf(`!!%s`, noteJS(carolNote.ID)), &carolShown)
	if carolShown {
		t.Fatal("the home timeline shows the note of someone not followed")
	}
	b.Eval(`(document.querySelector('details').open = false, true)`, nil)
	screenshot(t, b, "social")

	// A draft reply is kept when something new arrives: the screen offers
	// to show it instead of redrawing under the user.
	act(bobNext.ID, "reply")
	do("drafting a reply", chromedp.SendKeys(`li.note[data-id="`+bobNext.ID+`"]:not([data-repost]) textarea.reply-text`, "half a thought"))
	bobThird := post(bob, 1, "Bob, a third time", nostr.Tags{})
	b.WaitFor(20*time.Second, fmt.Sprintf(`!document.getElementById('refresh').hidden && %s.querySelector('textarea.reply-text')?.value === 'half a thought'`, noteJS(bobNext.ID)))
	b.Eval(`(document.getElementById('refresh').click(), true)`, nil)
	b.WaitFor(20*time.Second, fmt.Sprintf(`!!%s && document.getElementById('refresh').hidden`, noteJS(bobThird.ID)))

	// The thread: Bob's note, the tab's reply under it, Bob's answer under that.
	answer := post(bob, 1, "Bob answers the tab", nostr.Tags{{"e", bobNote.ID, "", "root"}, {"e", reply.ID, "", "reply"}, {"p", me}})
	b.Open(n.URL + "/social/" + bobNote.ID + "?loopback=1")
	b.WaitFor(30*time.Second, fmt.Sprintf(`(() => {
		const root = document.querySelector('ul.thread > li.note[data-id=%q]');
		const r = root?.querySelector(':scope > ul.replies > li.note[data-id=%q]');
		const a = r?.querySelector(':scope > ul.replies > li.note[data-id=%q]');
		return !!a && r.querySelector('.who').textContent === 'Alice' && a.querySelector('.who').textContent === 'Bob';
	})()`, bobNote.ID, reply.ID, answer.ID))
	screenshot(t, b, "thread")

	// Unfollow, from the thread.
	act(bobNote.ID, "unfollow")
	stored("a kind 3 without Bob", nostr.Filter{Kinds: []int{3}, Limit: 1}, func(ev *nostr.Event) bool { return !hasTag(ev, "p", bob.pk) })
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestAppSocialPersonal: the social screen on a personal node. A tab
// holding the owner's key posts and follows; a tab with another key is
// told whose node it is, and its note is refused with the node's
// restricted: reason, shown on the page.
func TestAppSocialPersonal(t *testing.T) {
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	np, _ := nip19.EncodePublicKey(pk)
	n := harness.Start(t, "--webrtc-loopback", "--personal", np, "--np2p-listen", "off")

	owner := harness.NewBrowser(t)
	owner.Open(n.URL + "/wasm_exec.js")
	owner.Eval(fmt.Sprintf(`localStorage.setItem('cairn.key', JSON.stringify(%q)), true`, sk), nil)
	owner.Open(n.URL + "/social?loopback=1")
	owner.WaitFor(45*time.Second, coreReadyJS+` && document.getElementById('me')?.textContent.startsWith('You are')`)
	var shown bool
	owner.Eval(`!!document.querySelector('.notice.warn')?.textContent.includes('personal node')`, &shown)
	if shown {
		t.Fatal("the owner's tab is told it may not publish")
	}
	ctx, cancel := context.WithTimeout(owner.Context(), time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SendKeys("#post-text", "from the owner's own node"), chromedp.Click(`form.compose button[type="submit"]`)); err != nil {
		t.Fatal(err)
	}
	owner.WaitFor(20*time.Second, `[...document.querySelectorAll('ul.social li.note')].some(li => li.textContent.includes("from the owner's own node"))`)

	other := harness.NewBrowser(t)
	other.Open(n.URL + "/social?loopback=1")
	other.WaitFor(45*time.Second, coreReadyJS+` && !!document.querySelector('.notice.warn')?.textContent.includes('only its owner')`)
	octx, ocancel := context.WithTimeout(other.Context(), time.Minute)
	defer ocancel()
	if err := chromedp.Do(octx, chromedp.SendKeys("#post-text", "not the owner"), chromedp.Click(`form.compose button[type="submit"]`)); err != nil {
		t.Fatal(err)
	}
	other.WaitFor(20*time.Second, `document.querySelector('.notice.error')?.textContent.includes('restricted:')`)
	c, err := client.Dial(ctx, n.WSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	evs, err := c.Query(ctx, nostr.Filter{Kinds: []int{1}})
	if err != nil || len(evs) != 1 || evs[0].PubKey != pk {
		t.Fatalf("the node's notes: %v %v", evs, err)
	}
	if errs := append(owner.ConsoleErrors(), other.ConsoleErrors()...); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
