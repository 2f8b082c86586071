package wire

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

const benchFetch = "a1 UID FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE)\r\n"

// benchBatch is what a client pipelines when it opens a mailbox.
var benchBatch = strings.Join([]string{
	"a1 SELECT INBOX (CONDSTORE)",
	"a2 UID FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE)",
	"a3 UID SEARCH RETURN (ALL) UNSEEN NOT DELETED SINCE 1-Feb-2024",
	"a4 UID STORE 17,19:23 +FLAGS.SILENT (\\Seen $Forwarded)",
	"a5 UID FETCH 23 (BODY.PEEK[HEADER.FIELDS (From To Subject Date Message-ID)] BODY.PEEK[1]<0.2048>)",
	"a6 STATUS Archive (MESSAGES UNSEEN UIDNEXT)",
	"a7 LIST \"\" * RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))",
	"a8 NOOP",
}, "\r\n") + "\r\n"

func benchRead(b *testing.B, input string, commands int) {
	data := []byte(input)
	src := bytes.NewReader(data)
	br := bufio.NewReader(src)
	r := NewReader(br, nil, Limits{})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(data)
		br.Reset(src)
		for range commands {
			if _, err := r.ReadCommand(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkUIDFetch parses the FETCH a client sends to list a mailbox.
func BenchmarkUIDFetch(b *testing.B) { benchRead(b, benchFetch, 1) }

// BenchmarkPipelined parses a pipelined batch of eight commands.
func BenchmarkPipelined(b *testing.B) { benchRead(b, benchBatch, 8) }
