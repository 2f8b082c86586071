package message

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// allFixtures returns every fixture: the files in testdata and the
// generated ones.
func allFixtures(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ents, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".eml") {
			out[e.Name()] = readFixture(t, e.Name())
		}
	}
	out["gen:many_headers"] = manyHeaders()
	out["gen:deep_nesting"] = deepNesting(200)
	return out
}

func TestRoundTrip(t *testing.T) {
	for name, raw := range allFixtures(t) {
		m := Parse(raw)
		b := m.Marshal()
		if b[0] != formatVersion {
			t.Fatalf("%s: version byte %d", name, b[0])
		}
		m2, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Errorf("%s: round trip differs", name)
		}
		if m3, err := UnmarshalAlias(b); err != nil || !reflect.DeepEqual(m, m3) {
			t.Errorf("%s: UnmarshalAlias round trip differs: %v", name, err)
		}
		// The result must not alias the input.
		for i := range b {
			b[i] = 0xff
		}
		if !reflect.DeepEqual(m, m2) {
			t.Errorf("%s: decoded meta aliases its input", name)
		}
	}
	// Shared Sender/Reply-To are restored as shared.
	m2, _ := Unmarshal(Parse(readFixture(t, "simple.eml")).Marshal())
	if &m2.Envelope.Sender[0] != &m2.Envelope.From[0] {
		t.Errorf("sender not shared with from")
	}
}

func TestRoundTripHandBuilt(t *testing.T) {
	m := &Meta{
		Size:     100,
		Envelope: Envelope{Subject: []byte{}, From: []Address{{Mailbox: []byte("g")}, {}}},
		Structure: &Part{
			Type: "multipart", Subtype: "mixed", End: 100, BodyStart: 10,
			Children: []*Part{
				{Type: "message", Subtype: "rfc822", HeaderStart: 10, BodyStart: 20, End: 90, Lines: 3,
					Language:        [][]byte{[]byte("en"), {}},
					MessageEnvelope: &Envelope{Date: []byte("x"), Sender: []Address{{Host: []byte{}}}},
					Message:         &Part{Type: "text", Subtype: "plain", HeaderStart: 20, BodyStart: 30, End: 90}},
			},
		},
		Preview: "héllo",
	}
	m2, err := Unmarshal(m.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Errorf("round trip differs:\n%#v\n%#v", m, m2)
	}
	empty, err := Unmarshal((&Meta{}).Marshal())
	if err != nil || !reflect.DeepEqual(empty, &Meta{}) {
		t.Errorf("empty meta: %v %#v", err, empty)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good := Parse(readFixture(t, "nested_rfc822.eml")).Marshal()
	if _, err := Unmarshal(nil); err == nil {
		t.Error("nil accepted")
	}
	if _, err := Unmarshal([]byte{2}); !errors.Is(err, ErrVersion) {
		t.Errorf("version 2: %v", err)
	}
	// Every truncation and every trailing addition must fail.
	for i := 0; i < len(good); i++ {
		if _, err := Unmarshal(good[:i]); err == nil {
			t.Fatalf("truncation at %d accepted", i)
		}
	}
	if _, err := Unmarshal(append(good[:len(good):len(good)], 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	// Forged huge counts must not allocate.
	forged := append([]byte{formatVersion, 0, 0, 0, 0x84, 0x07, 1, 0, 0, 0, 0}, make([]byte, 1000)...) // 900 parts in 1000 bytes
	allocs := testing.AllocsPerRun(10, func() { Unmarshal(forged) })
	if _, err := Unmarshal(forged); err == nil || allocs > 3 {
		t.Errorf("forged count: err %v, %v allocs", err, allocs)
	}
	// Offsets outside the message are rejected.
	m := &Meta{Size: 10, Structure: &Part{Type: "text", Subtype: "plain", End: 11}}
	if _, err := Unmarshal(m.Marshal()); err == nil {
		t.Error("End > Size accepted")
	}
	m = &Meta{Size: 10, Structure: &Part{End: 10, Children: []*Part{{HeaderStart: 5, BodyStart: 4, End: 6}}}}
	if _, err := Unmarshal(m.Marshal()); err == nil {
		t.Error("BodyStart < HeaderStart accepted")
	}
	// Single byte corruptions never panic.
	for i := range good {
		for _, v := range []byte{0, 1, 0x7f, 0x80, 0xff} {
			b := bytes.Clone(good)
			b[i] = v
			Unmarshal(b)
		}
	}
}

func realistic(tb testing.TB) []byte {
	return readFixture(tb, "realistic.eml")
}

func TestRealistic(t *testing.T) {
	raw := realistic(t)
	m := Parse(raw)
	checkInvariants(t, raw, m)
	parts := flatten(m.Structure)
	if len(parts) != 5 || parts["1.1"].Subtype != "plain" || parts["1.2"].Subtype != "html" || parts["2"].Disposition != "attachment" {
		t.Errorf("unexpected structure")
	}
	if !strings.HasPrefix(m.Preview, "Hello Bob, This week we shipped") {
		t.Errorf("preview %q", m.Preview)
	}
	t.Logf("message %d bytes, metadata %d bytes", len(raw), len(m.Marshal()))
}

func BenchmarkParse(b *testing.B) {
	raw := realistic(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		Parse(raw)
	}
}

func BenchmarkMarshal(b *testing.B) {
	m := Parse(realistic(b))
	b.ReportAllocs()
	for b.Loop() {
		m.Marshal()
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	enc := Parse(realistic(b)).Marshal()
	b.ReportMetric(float64(len(enc)), "encoded-bytes")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalAlias(b *testing.B) {
	enc := Parse(realistic(b)).Marshal()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnmarshalAlias(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalSmall decodes the metadata of a small
// multipart/alternative message.
func BenchmarkUnmarshalSmall(b *testing.B) {
	enc := Parse(readFixture(b, "alternative.eml")).Marshal()
	b.ReportAllocs()
	for b.Loop() {
		Unmarshal(enc)
	}
}
