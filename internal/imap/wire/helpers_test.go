package wire

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

// newTestReader returns a Reader of input that counts continuation
// requests.
func newTestReader(input string, limits Limits) (*Reader, *int) {
	conts := new(int)
	r := NewReader(bufio.NewReader(strings.NewReader(input)), func() error {
		*conts++
		return nil
	}, limits)
	return r, conts
}

// readOne reads the single command of line, which must end in CRLF.
func readOne(t *testing.T, line string) (*Command, error) {
	t.Helper()
	r, _ := newTestReader(line, Limits{})
	return r.ReadCommand()
}

func set(ranges ...uint32) NumSet {
	var s NumSet
	for i := 0; i < len(ranges); i += 2 {
		s.Ranges = append(s.Ranges, NumRange{ranges[i], ranges[i+1]})
	}
	return s
}

func setp(ranges ...uint32) *NumSet {
	s := set(ranges...)
	return &s
}

func u64(n uint64) *uint64 { return &n }

func str(s string) *string { return &s }

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
