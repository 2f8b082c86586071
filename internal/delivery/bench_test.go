package delivery_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/delivery"
	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/store"
)

// BenchmarkDeliver measures the delivery path without a protocol or an
// index in front: spool, parse, body file, shard transaction, durable, with
// 4 deliveries in flight (as the LMTP benchmark's 4 connections) to 10
// accounts on the default 4 shards. Besides ns/op it reports the process's
// CPU time per message (user+system, from getrusage), the figure the
// 2-core benchmark machine is bound by:
//
//	go test ./internal/delivery -run '^$' -bench Deliver -benchtime 3000x -count 5
func BenchmarkDeliver(b *testing.B) {
	for _, rcpts := range []int{1, 5} {
		b.Run(fmt.Sprintf("rcpts=%d", rcpts), func(b *testing.B) { benchDeliver(b, rcpts) })
	}
}

func benchDeliver(b *testing.B, rcpts int) {
	ctx := context.Background()
	dataDir := b.TempDir()
	st, err := store.Open(ctx, dataDir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	dir, err := directory.Open(ctx, filepath.Join(dataDir, "directory.db"), len(st.Shards()))
	if err != nil {
		b.Fatal(err)
	}
	defer dir.Close()
	if _, err := dir.AddDomain(ctx, directory.Domain{Name: "example.org"}); err != nil {
		b.Fatal(err)
	}
	p := delivery.New(dir, st, delivery.Config{MaxMessageSize: 8 << 20, DataDir: dataDir},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	var users []delivery.Recipient
	for i := range 10 {
		u, err := dir.AddUser(ctx, directory.NewUser{Address: fmt.Sprintf("user%d@example.org", i), Password: "x"})
		if err != nil {
			b.Fatal(err)
		}
		mb, _ := st.Mailbox(u.Shard, u.ID)
		if err := mb.Create(ctx, store.DefaultFolders("en")); err != nil {
			b.Fatal(err)
		}
		r, err := p.Resolve(ctx, u.Address)
		if err != nil {
			b.Fatal(err)
		}
		users = append(users, r)
	}
	// Unique messages of about the corpus' mean size (5.5 KB), so that
	// every delivery writes a new body.
	filler := strings.Repeat("The quick brown fox jumps over the lazy dog, again and again. ", 85)
	msg := func(i int) string {
		return fmt.Sprintf("From: sender%d@example.net\r\nTo: user@example.org\r\nSubject: message %d\r\n"+
			"Message-ID: <%d.%d@example.net>\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000\r\n\r\n%d %s\r\n",
			i%97, i, i, time.Now().UnixNano(), i, filler)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	before := rusage()
	b.ResetTimer()
	start := time.Now()
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				to := make([]delivery.Recipient, rcpts)
				for k := range to {
					to[k] = users[(i+k)%len(users)]
				}
				for _, err := range p.Deliver(ctx, to, strings.NewReader(msg(i))) {
					if err != nil {
						failed.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d deliveries failed", n)
	}
	cpu := rusage() - before
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
}

// rusage is the CPU time (user+system) the process has used.
func rusage() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
