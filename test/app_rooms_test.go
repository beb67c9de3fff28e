package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/test/harness"
)

// TestAppRooms: the rooms screen, as a user works it. The tab creates an
// open room, posts in it, and sees live a user of another client join
// (a NIP-29 join request) and post; the tab, owner of the room, bans that
// user from the member list, and the user's next message is refused by
// the node.
func TestAppRooms(t *testing.T) {
	n := harness.Start(t, "--webrtc-loopback")
	b := harness.NewBrowser(t)
	b.Open(n.URL + "/rooms?loopback=1")
	b.WaitFor(45*time.Second, coreReadyJS+` && !!document.querySelector('#room-name')`)
	ctx, cancel := context.WithTimeout(b.Context(), 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.SendKeys("#room-name", "lobby"),
		chromedp.Click(`form button[type="submit"]`),
	); err != nil {
		t.Fatalf("creating a room from the page: %v", err)
	}
	b.WaitFor(30*time.Second, `/^\/rooms\/[0-9a-f]{64}$/.test(location.pathname) && document.querySelector('h1')?.textContent === 'lobby' && !!document.querySelector('.members li')`)
	var id string
	b.Eval(`location.pathname.slice(7)`, &id)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys("#room-text", "hello from the tab"),
		chromedp.Click(`form.compose button[type="submit"]`),
	); err != nil {
		t.Fatalf("posting from the page: %v", err)
	}
	b.WaitFor(20*time.Second, `[...document.querySelectorAll('.chat .msg')].some(m => m.textContent.includes('hello from the tab'))`)

	// Another client, that writes no chain tags: it joins and posts.
	c, err := client.Dial(ctx, n.WSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	send := func(kind int, content string) error {
		ev := &nostr.Event{Kind: kind, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"h", id}}, Content: content}
		if err := ev.Sign(sk); err != nil {
			t.Fatal(err)
		}
		return c.Publish(ctx, "EVENT", ev)
	}
	if err := send(9021, ""); err != nil {
		t.Fatalf("join request: %v", err)
	}
	if err := send(9, "hi from elsewhere"); err != nil {
		t.Fatalf("the joined user posts: %v", err)
	}
	b.WaitFor(20*time.Second, fmt.Sprintf(`[...document.querySelectorAll('.chat .msg')].some(m => m.textContent.includes('hi from elsewhere')) && !!document.querySelector('.members li[data-pubkey=%q]')`, pk))
	screenshot(t, b, "room")

	// The owner bans the user from the member list.
	b.Eval(fmt.Sprintf(`(() => { [...document.querySelectorAll('.members li[data-pubkey=%q] button')].find(x => x.textContent === 'Ban').click(); return true; })()`, pk), nil)
	b.WaitFor(20*time.Second, fmt.Sprintf(`document.querySelector('.members li[data-pubkey=%q] .role')?.textContent === 'banned'`, pk))
	if err := send(9, "still here?"); err == nil || !strings.Contains(err.Error(), "restricted:") {
		t.Fatalf("a banned user's message: %v, want restricted:", err)
	}
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
