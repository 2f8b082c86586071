package message

import (
	"reflect"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, raw := range allFixtures(f) {
		if len(raw) > 64<<10 {
			continue // keep the corpus small enough to mutate quickly
		}
		f.Add(raw)
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: message/rfc822\n\nContent-Type: multipart/digest; boundary=b\n\n--b\n\n--b--\n--a--"))
	f.Add([]byte("To: a:b@c,<@d:e@f>;(x\"\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := parse(raw) // without Parse's recover, so panics surface
		checkInvariants(t, raw, m)
	})
}

func FuzzUnmarshal(f *testing.F) {
	for _, raw := range allFixtures(f) {
		if len(raw) > 64<<10 {
			continue
		}
		f.Add(Parse(raw).Marshal())
	}
	f.Add([]byte{})
	f.Add([]byte{formatVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to an equal value.
		m2, err := Unmarshal(m.Marshal())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-decode differs")
		}
	})
}
