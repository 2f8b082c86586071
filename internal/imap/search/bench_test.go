package search

import (
	"fmt"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/store"
)

// sliceLoader serves prebuilt metadata by UID (1-based), as a server
// would from its database.
type sliceLoader struct {
	meta []*message.Meta
	raw  [][]byte
}

func (s *sliceLoader) Meta(m *Message) (*message.Meta, error) { return s.meta[m.UID-1], nil }
func (s *sliceLoader) Raw(m *Message) ([]byte, error)         { return s.raw[m.UID-1], nil }

const benchMessages = 10000

func benchMailbox(b *testing.B) ([]*Message, *sliceLoader) {
	b.Helper()
	msgs := make([]*Message, benchMessages)
	l := &sliceLoader{}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range msgs {
		n := uint32(i + 1)
		m := &Message{Seq: n, UID: n, InternalDate: base.Add(time.Duration(i) * time.Minute), Size: int64(1000 + i)}
		if i%3 == 0 {
			m.Flags = store.FlagSeen
		}
		subject := fmt.Sprintf("Quarterly report number %d for the team", i)
		switch i % 10 {
		case 7:
			subject = "=?utf-8?q?R=C3=A9union_de_l'=C3=A9quipe_" + fmt.Sprint(i) + "?="
		case 9:
			subject = fmt.Sprintf("Tax invoice %d, please review", i) // matches "x"
		}
		raw := fmt.Appendf(nil, "From: Sender %d <sender%d@example.org>\r\nTo: team@example.org\r\nSubject: %s\r\nDate: Wed, 1 Jan 2025 10:00:00 +0000\r\nMessage-ID: <%d@example.org>\r\n\r\nHello, this is message %d.\r\n", i, i, subject, i, i)
		l.meta = append(l.meta, message.Parse(raw))
		l.raw = append(l.raw, raw)
		msgs[i] = m
	}
	return msgs, l
}

func benchMatch(b *testing.B, program string) {
	msgs, l := benchMailbox(b)
	mt, err := Compile(parseSearch(b, program).Keys, Context{MaxSeq: benchMessages, MaxUID: benchMessages})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	matched := 0
	for b.Loop() {
		matched = 0
		for _, m := range msgs {
			ok, err := mt.Match(m, l)
			if err != nil {
				b.Fatal(err)
			}
			if ok {
				matched++
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchMessages, "ns/msg")
	b.ReportMetric(float64(matched), "matches")
}

// BenchmarkMatchUnseen is UNSEEN over 10,000 messages (one op = the whole
// mailbox).
func BenchmarkMatchUnseen(b *testing.B) { benchMatch(b, "UNSEEN") }

// BenchmarkMatchSubject is SUBJECT "x" over 10,000 messages whose
// metadata is already in memory; a tenth have encoded-word subjects.
func BenchmarkMatchSubject(b *testing.B) { benchMatch(b, `SUBJECT "x"`) }

// BenchmarkMatchBody is BODY over 10,000 small messages, raw in memory.
func BenchmarkMatchBody(b *testing.B) { benchMatch(b, `BODY "message 9999"`) }

func BenchmarkSortSubject(b *testing.B) {
	msgs, l := benchMailbox(b)
	criteria := parseCommand(b, "a SORT (SUBJECT REVERSE DATE) UTF-8 ALL").Args.(*wire.Sort).Criteria
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sort(msgs, criteria, l); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkThreadReferences(b *testing.B) {
	msgs, l := benchMailbox(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Thread(msgs, "REFERENCES", l); err != nil {
			b.Fatal(err)
		}
	}
}
