package control

import (
	"context"
	"sync"
)

// backlog is how many events a Hub keeps for a follow that asks for a tail.
const backlog = 512

// Hub fans the sidecar's audit events out to followers, keeping the last
// few for late ones. A follower that falls behind loses events rather
// than slowing the proxy: Publish never blocks.
type Hub struct {
	mu   sync.Mutex
	ring []Event
	subs map[chan Event]struct{}
}

// Publish records ev and hands it to every follower that keeps up.
func (h *Hub) Publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring = append(h.ring, ev)
	if len(h.ring) > backlog {
		h.ring = h.ring[len(h.ring)-backlog:]
	}
	for c := range h.subs {
		select {
		case c <- ev:
		default:
		}
	}
}

// Events implements Service's Events on the hub.
func (h *Hub) Events(ctx context.Context, tail int, follow bool, fn func(Event) error) error {
	c := make(chan Event, 256)
	h.mu.Lock()
	old := h.ring[max(0, len(h.ring)-tail):]
	old = append([]Event(nil), old...)
	if follow {
		if h.subs == nil {
			h.subs = map[chan Event]struct{}{}
		}
		h.subs[c] = struct{}{}
	}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.subs, c)
		h.mu.Unlock()
	}()
	for _, ev := range old {
		if err := fn(ev); err != nil {
			return err
		}
	}
	if !follow {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-c:
			if err := fn(ev); err != nil {
				return err
			}
		}
	}
}
