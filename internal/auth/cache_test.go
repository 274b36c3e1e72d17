package auth

import (
	"testing"
	"time"
)

func TestTTLCache(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	c := newTTLCache[int, string](3)

	c.put(1, "one", now.Add(time.Minute), now)
	if v, ok := c.get(1, now); !ok || v != "one" {
		t.Fatalf("get(1) = %q, %v; want one, true", v, ok)
	}
	if _, ok := c.get(1, now.Add(time.Minute)); ok {
		t.Fatal("entry still served at its expiry time")
	}
	if c.len() != 0 {
		t.Fatalf("expired entry not removed on access: len %d", c.len())
	}

	c.put(2, "already expired", now, now)
	if c.len() != 0 {
		t.Fatal("put stored an entry that was already expired")
	}

	// Filling past the bound evicts expired entries first, then arbitrary ones.
	c.put(1, "short", now.Add(time.Second), now)
	c.put(2, "long", now.Add(time.Hour), now)
	c.put(3, "long", now.Add(time.Hour), now)
	later := now.Add(2 * time.Second)
	c.put(4, "long", now.Add(time.Hour), later)
	if _, ok := c.get(1, now); ok {
		t.Fatal("expired entry 1 survived eviction")
	}
	for _, k := range []int{2, 3, 4} {
		if _, ok := c.get(k, later); !ok {
			t.Fatalf("live entry %d evicted while an expired one was available", k)
		}
	}
	for k := 5; k < 20; k++ {
		c.put(k, "long", now.Add(time.Hour), later)
		if c.len() > 3 {
			t.Fatalf("cache grew to %d entries, bound is 3", c.len())
		}
		if _, ok := c.get(k, later); !ok {
			t.Fatalf("entry %d just stored is missing", k)
		}
	}
}
