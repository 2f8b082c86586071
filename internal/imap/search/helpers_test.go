package search

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/imap/wire"
	"github.com/petrelmail/petrel/internal/message"
	"github.com/petrelmail/petrel/internal/store"
)

// fakeLoader serves raw messages by UID and parses them with
// message.Parse, counting the calls.
type fakeLoader struct {
	raw       map[uint32][]byte
	meta      map[uint32]*message.Meta
	metaCalls int
	rawCalls  int
}

func newFakeLoader() *fakeLoader {
	return &fakeLoader{raw: map[uint32][]byte{}, meta: map[uint32]*message.Meta{}}
}

func (f *fakeLoader) add(uid uint32, raw []byte) {
	f.raw[uid] = raw
	f.meta[uid] = message.Parse(raw)
}

func (f *fakeLoader) Meta(m *Message) (*message.Meta, error) {
	f.metaCalls++
	meta, ok := f.meta[m.UID]
	if !ok {
		return nil, fmt.Errorf("no message with UID %d", m.UID)
	}
	return meta, nil
}

func (f *fakeLoader) Raw(m *Message) ([]byte, error) {
	f.rawCalls++
	raw, ok := f.raw[m.UID]
	if !ok {
		return nil, fmt.Errorf("no message with UID %d", m.UID)
	}
	return raw, nil
}

// failLoader fails the test when called.
type failLoader struct{ t testing.TB }

func (f failLoader) Meta(m *Message) (*message.Meta, error) {
	f.t.Fatalf("Loader.Meta called for UID %d", m.UID)
	return nil, nil
}

func (f failLoader) Raw(m *Message) ([]byte, error) {
	f.t.Fatalf("Loader.Raw called for UID %d", m.UID)
	return nil, nil
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func date(y int, mo time.Month, d, h, mi int, offsetHours int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, time.FixedZone("", offsetHours*3600))
}

// fixtures returns the four messages of testdata, sequence numbers 1 to 4.
func fixtures(t testing.TB) ([]*Message, *fakeLoader) {
	l := newFakeLoader()
	msgs := []*Message{
		{Seq: 1, UID: 10, Flags: store.FlagSeen, Keywords: []string{"$Important"},
			InternalDate: date(2025, 2, 3, 12, 0, 1), SaveDate: date(2025, 2, 4, 8, 0, 0),
			Size: 1000, ModSeq: 5, EmailID: "Mabc", ThreadID: "T1"},
		// Internal date 1 February in its zone, 2 February in UTC.
		{Seq: 2, UID: 20, Flags: store.FlagAnswered | store.FlagFlagged,
			InternalDate: date(2025, 2, 1, 23, 30, -8), Size: 2000, ModSeq: 7, EmailID: "Mdef", ThreadID: "T1"},
		{Seq: 3, UID: 30, Flags: store.FlagDeleted | store.FlagDraft,
			InternalDate: date(2025, 2, 5, 9, 0, 0), SaveDate: date(2025, 2, 6, 9, 0, 0),
			Size: 3000, ModSeq: 9},
		{Seq: 4, UID: 40, Keywords: []string{"work"},
			InternalDate: date(2025, 2, 10, 8, 0, 0), SaveDate: date(2025, 2, 11, 9, 0, 0),
			Size: 4000, ModSeq: 11},
	}
	for i, name := range []string{"plain.eml", "latin1_b64.eml", "alternative.eml", "forward.eml"} {
		l.add(msgs[i].UID, readFixture(t, name))
	}
	return msgs, l
}

// parseCommand parses one IMAP command line with the wire parser.
func parseCommand(t testing.TB, line string) *wire.Command {
	t.Helper()
	r := wire.NewReader(bufio.NewReader(strings.NewReader(line+"\r\n")), func() error { return nil }, wire.Limits{})
	cmd, err := r.ReadCommand()
	if err != nil {
		t.Fatalf("parsing %q: %v", line, err)
	}
	return cmd
}

// parseSearch parses the search program of a SEARCH command.
func parseSearch(t testing.TB, program string) *wire.Search {
	t.Helper()
	return parseCommand(t, "a SEARCH "+program).Args.(*wire.Search)
}

func seqs(msgs []*Message) string {
	var b strings.Builder
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, m.Seq)
	}
	return b.String()
}
