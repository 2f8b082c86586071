package blob

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkCommit measures making new bodies durable, 4 at a time (as the
// LMTP benchmark's 4 connections do). Bodies are 5.5 KB, about the
// SpamAssassin corpus's median, so they stay in memory until Commit; the
// store is under the test's temporary folder, so run it with TMPDIR on the
// disk the data lives on.
//
//	go test ./internal/blob -run '^$' -bench Commit -benchtime 3000x -count 3
func BenchmarkCommit(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	base := bytes.Repeat([]byte("x"), 5500)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	before := cpuTime()
	b.ResetTimer()
	start := time.Now()
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				body := append(fmt.Appendf(nil, "%d\r\n", i), base...)
				sp, err := s.Spool(bytes.NewReader(body), 0)
				if err == nil {
					var created bool
					created, err = sp.Commit()
					if err == nil && !created {
						err = fmt.Errorf("body %d was already there", i)
					}
					sp.Close()
				}
				if err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d commits failed", n)
	}
	b.ReportMetric(float64((cpuTime()-before).Microseconds())/float64(b.N), "cpu-µs/body")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "bodies/s")
}

// cpuTime is the CPU time (user+system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
