package fts

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLiveApply indexes the corpus (already extracted) the way the
// replicator does under a steady delivery load: batches of liveBatch
// bodies, one Apply each, one worker. It reports the CPU time of the
// process per body, which is what indexing takes from deliveries.
//
//	go test ./internal/fts -run '^$' -bench LiveApply -benchtime 1x
func BenchmarkLiveApply(b *testing.B) {
	c := loadBench(b)
	for _, batch := range []int{40, 160} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			ctx := context.Background()
			var cpu time.Duration
			n := 0
			for b.Loop() {
				b.StopTimer()
				ix, err := Open(ctx, filepath.Join(b.TempDir(), "fts.db"))
				if err != nil {
					b.Fatal(err)
				}
				ix.SetWorkers(1)
				entries := make([]Entry, len(c.docs))
				for i, d := range c.docs {
					entries[i] = Entry{BodyID: int64(i + 1), Hash: sha256.Sum256([]byte(strconv.Itoa(i))), Doc: d}
				}
				before := cpuTime()
				b.StartTimer()
				for i := 0; i < len(entries); i += batch {
					if err := ix.Apply(ctx, entries[i:min(i+batch, len(entries))], nil, "bench", int64(i)); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				cpu += cpuTime() - before
				n += len(entries)
				ix.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/msg")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
