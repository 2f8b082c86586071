package replication

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/store"
)

// skipRecorder is a consumer that records what it is given, idle while
// told to be.
type skipRecorder struct {
	idle    atomic.Bool
	mu      sync.Mutex
	applied []int64 // entry IDs
	skipped int64
}

func (s *skipRecorder) Name() string                          { return "recorder" }
func (s *skipRecorder) Cursor(context.Context) (int64, error) { return 0, nil }
func (s *skipRecorder) Idle() bool                            { return s.idle.Load() }
func (s *skipRecorder) Skip(head int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skipped = head
}
func (s *skipRecorder) Apply(_ context.Context, changes []store.Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range changes {
		s.applied = append(s.applied, c.ID)
	}
	return nil
}

func (s *skipRecorder) state() (applied []int64, skipped int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.applied...), s.skipped
}

// TestSkipperIdle checks that a consumer reporting Idle is given nothing
// and has its cursor moved past what was written meanwhile, and that once
// it is no longer idle it is given every entry written after that, and
// none from before.
func TestSkipperIdle(t *testing.T) {
	rec := &skipRecorder{}
	rec.idle.Store(true)
	e := newEnv(t, 1, 1, Options{Consumers: func(int) []Consumer { return []Consumer{rec} }})
	e.start()
	mb := e.mailboxes[0]
	for i := range 5 {
		if err := e.appendMsg(mb, "INBOX", genMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	sh, _ := e.st.Shard(0)
	_, head := sh.Changed()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, skipped := rec.state(); skipped == head {
			break
		}
		if time.Now().After(deadline) {
			_, skipped := rec.state()
			t.Fatalf("cursor skipped to %d, want the head %d", skipped, head)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if applied, _ := rec.state(); len(applied) != 0 {
		t.Fatalf("an idle consumer was given entries %v", applied)
	}
	rec.idle.Store(false)
	for i := 5; i < 8; i++ {
		if err := e.appendMsg(mb, "INBOX", genMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	_, head2 := sh.Changed()
	for {
		applied, _ := rec.state()
		if len(applied) > 0 && applied[len(applied)-1] == head2 {
			for i, id := range applied {
				if id <= head || (i > 0 && id != applied[i-1]+1) {
					t.Fatalf("entries given after the idle time: %v (skipped to %d)", applied, head)
				}
			}
			if applied[0] != head+1 {
				t.Fatalf("first entry given %d, want %d", applied[0], head+1)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entries given: %v, want up to %d", applied, head2)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
