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
// open room, posts in it, adds a text channel, posts there and sees each
// channel's messages apart, and sees live a user of another client join
// (a NIP-29 join request) and post; the tab, owner of the room, bans that
// user from the member list, and the user's next message is refused by
// the node. Then the owner turns sequencer mode on; a new user's join
// waits until the owner countersigns it on the page.
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

	// The owner adds a text channel, writes in it, and goes back to general.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(`.new-channel input[name="channel-id"]`, "dev"),
		chromedp.SendKeys(`.new-channel input[name="channel-name"]`, "Dev talk"),
		chromedp.Click(`.new-channel button[type="submit"]`),
	); err != nil {
		t.Fatalf("adding a channel from the page: %v", err)
	}
	b.WaitFor(20*time.Second, `document.querySelector('.channels button[aria-current="true"]')?.dataset.channel === 'dev' && !document.querySelector('.chat .msg:not([hidden])')`)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys("#room-text", "hello in dev"),
		chromedp.Click(`form.compose button[type="submit"]`),
	); err != nil {
		t.Fatalf("posting in the channel: %v", err)
	}
	b.WaitFor(20*time.Second, `[...document.querySelectorAll('.chat .msg:not([hidden])')].some(m => m.textContent.includes('hello in dev') && m.dataset.channel === 'dev')`)
	b.Eval(`(() => { document.querySelector('.channels button[data-channel="general"]').click(); return true; })()`, nil)
	b.WaitFor(20*time.Second, `(() => { const shown = [...document.querySelectorAll('.chat .msg:not([hidden])')].map(m => m.textContent); return shown.some(t => t.includes('hello from the tab')) && !shown.some(t => t.includes('hello in dev')); })()`)

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

	// Sequencer mode: the owner turns it on; a new user's join request is
	// placed but waits; the owner countersigns it from the page.
	b.Eval(`(() => { [...document.querySelectorAll('button')].find(x => x.textContent.startsWith('Sequencer mode')).click(); return true; })()`, nil)
	b.WaitFor(20*time.Second, `document.querySelector('p.muted')?.textContent.includes('sequencer mode')`)
	sk2 := nostr.GeneratePrivateKey()
	pk2, _ := nostr.GetPublicKey(sk2)
	join := &nostr.Event{Kind: 9021, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"h", id}}}
	if err := join.Sign(sk2); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, "EVENT", join); err != nil {
		t.Fatalf("a join request in sequencer mode: %v", err)
	}
	b.WaitFor(20*time.Second, `[...document.querySelectorAll('button')].some(x => x.textContent === 'Countersign 1 pending change')`)
	var early bool
	b.Eval(fmt.Sprintf(`!!document.querySelector('.members li[data-pubkey=%q]')`, pk2), &early)
	if early {
		t.Fatal("the join took effect before the owner countersigned it")
	}
	b.Eval(`(() => { [...document.querySelectorAll('button')].find(x => x.textContent === 'Countersign 1 pending change').click(); return true; })()`, nil)
	b.WaitFor(20*time.Second, fmt.Sprintf(`document.querySelector('.members li[data-pubkey=%q] .role')?.textContent === 'member'`, pk2))
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestAppRoomInvite: two browsers. The first creates a closed room and
// makes an invite link; the second opens the link, joins with it and
// posts; the first sees the message live, deletes it (it disappears from
// both tabs), then bans the second, whose next message is refused in its
// tab.
func TestAppRoomInvite(t *testing.T) {
	n := harness.Start(t, "--webrtc-loopback")
	owner := harness.NewBrowser(t)
	owner.Open(n.URL + "/rooms?loopback=1")
	owner.WaitFor(45*time.Second, coreReadyJS+` && !!document.querySelector('#room-name')`)
	ctx, cancel := context.WithTimeout(owner.Context(), 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.SendKeys("#room-name", "closed club"),
		chromedp.Click("#room-open"), // unchecked: moderators add members
		chromedp.Click(`form button[type="submit"]`),
	); err != nil {
		t.Fatalf("creating a room: %v", err)
	}
	owner.WaitFor(30*time.Second, `document.querySelector('h1')?.textContent === 'closed club' && [...document.querySelectorAll('button')].some(b => b.textContent === 'Make an invite link')`)
	owner.Eval(`(() => { [...document.querySelectorAll('button')].find(b => b.textContent === 'Make an invite link').click(); return true; })()`, nil)
	owner.WaitFor(20*time.Second, `!!document.querySelector('.invite-link')?.value`)
	var link string
	owner.Eval(`document.querySelector('.invite-link').value`, &link)
	if !strings.Contains(link, "?code=") {
		t.Fatalf("invite link %q", link)
	}

	guest := harness.NewBrowser(t)
	guest.Open(link + "&loopback=1")
	guest.WaitFor(45*time.Second, coreReadyJS+` && [...document.querySelectorAll('button')].some(b => b.textContent === 'Join with this invite')`)
	guest.Eval(`(() => { [...document.querySelectorAll('button')].find(b => b.textContent === 'Join with this invite').click(); return true; })()`, nil)
	guest.WaitFor(20*time.Second, `[...document.querySelectorAll('.members li')].some(li => li.textContent.includes('(you)') && li.textContent.includes('member'))`)
	gctx, gcancel := context.WithTimeout(guest.Context(), 30*time.Second)
	defer gcancel()
	if err := chromedp.Do(gctx, chromedp.SendKeys("#room-text", "a guest's first words"), chromedp.Click(`form.compose button[type="submit"]`)); err != nil {
		t.Fatalf("the guest posts: %v", err)
	}
	const msgJS = `[...document.querySelectorAll('.chat .msg')].some(m => m.textContent.includes("a guest's first words"))`
	owner.WaitFor(20*time.Second, msgJS)

	// The owner (delete capability) deletes the guest's message.
	owner.Eval(`(() => { [...document.querySelectorAll('.chat .msg')].find(m => m.textContent.includes("a guest's first words")).querySelector('button.delete').click(); return true; })()`, nil)
	owner.WaitFor(20*time.Second, "!"+msgJS)
	guest.WaitFor(20*time.Second, "!"+msgJS)

	// The owner bans the guest: the guest's next message is refused.
	var guestKey string
	guest.Eval(`cairn.status().pubkey`, &guestKey)
	owner.WaitFor(20*time.Second, fmt.Sprintf(`!!document.querySelector('.members li[data-pubkey=%q] button')`, guestKey))
	owner.Eval(fmt.Sprintf(`(() => { [...document.querySelectorAll('.members li[data-pubkey=%q] button')].find(x => x.textContent === 'Ban').click(); return true; })()`, guestKey), nil)
	owner.WaitFor(20*time.Second, fmt.Sprintf(`document.querySelector('.members li[data-pubkey=%q] .role')?.textContent === 'banned'`, guestKey))
	if err := chromedp.Do(gctx, chromedp.SendKeys("#room-text", "am I still here?"), chromedp.Click(`form.compose button[type="submit"]`)); err != nil {
		t.Fatalf("the banned guest posts: %v", err)
	}
	guest.WaitFor(20*time.Second, `[...document.querySelectorAll('.notice.error')].some(n => n.textContent.includes('Not sent') && n.textContent.includes('restricted:'))`)
	for i, b := range []*harness.Browser{owner, guest} {
		if errs := b.ConsoleErrors(); len(errs) > 0 {
			t.Errorf("browser %d console errors:\n%s", i, strings.Join(errs, "\n"))
		}
	}
}
