package delivery_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/delivery"
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

// BenchmarkBatch measures saving messages through delivery.Batch (IMAP
// MULTIAPPEND): 4 batches in flight (as the IMAP benchmark's 4
// connections), 250 messages each, into the INBOXes of 4 accounts.
//
//	go test ./internal/delivery -run '^$' -bench Batch -benchtime 10000x -count 3
func BenchmarkBatch(b *testing.B) {
	ctx := context.Background()
	p, users := benchPipeline(b)
	const perBatch = 250
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	before := rusage()
	b.ResetTimer()
	start := time.Now()
	for w := range 4 {
		wg.Go(func() {
			for {
				first := int(next.Add(perBatch)) - perBatch
				if first >= b.N {
					return
				}
				batch := p.NewBatch(users[w].User)
				for i := first; i < min(first+perBatch, b.N); i++ {
					if err := batch.Add(strings.NewReader(benchMessage(i)), "INBOX", 0, nil, time.Time{}); err != nil {
						failed.Add(1)
					}
				}
				if _, err := batch.Commit(ctx); err != nil {
					failed.Add(1)
				}
				batch.Close()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d saves failed", n)
	}
	cpu := rusage() - before
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
}

// benchMessage is a unique message of about the corpus' mean size (5.5
// KB), so that every save writes a new body.
func benchMessage(i int) string {
	return fmt.Sprintf("From: sender%d@example.net\r\nTo: user@example.org\r\nSubject: message %d\r\n"+
		"Message-ID: <%d.%d@example.net>\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000\r\n\r\n%d %s\r\n",
		i%97, i, i, time.Now().UnixNano(), i, benchFiller)
}

var benchFiller = strings.Repeat("The quick brown fox jumps over the lazy dog, again and again. ", 85)

// benchPipeline is NewTestPipeline with 10 accounts, resolved as
// recipients.
func benchPipeline(b *testing.B) (*delivery.Pipeline, []delivery.Recipient) {
	p, accounts, _ := delivery.NewTestPipeline(b, 10)
	var users []delivery.Recipient
	for _, u := range accounts {
		r, err := p.Resolve(context.Background(), u.Address)
		if err != nil {
			b.Fatal(err)
		}
		users = append(users, r)
	}
	return p, users
}

func benchDeliver(b *testing.B, rcpts int) {
	ctx := context.Background()
	p, users := benchPipeline(b)
	msg := benchMessage
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
