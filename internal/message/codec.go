package message

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"
)

// Binary format, version 1. All integers are varints (encoding/binary);
// "bytes" is uvarint(len+1) then the bytes, with 0 meaning nil; "string"
// is uvarint(len) in the main stream while its bytes are appended to the
// string section, which precedes the main stream so that the decoder can
// turn all strings into one Go string with a single allocation; "list" is
// uvarint(n) then n items.
//
//	encoding: byte version=1, uvarint len(strings), strings, main
//	main:     uvarint flags (1: HeaderTruncated, 2: Structure present),
//	          varint Size, uvarint counts of parts, envelopes, addresses,
//	          params, language tags, children (for allocation in one block
//	          each), bytes Header, string Preview, envelope, [part]
//	envelope: bytes Date, Subject, InReplyTo, MessageID,
//	          list From, uvarint(n+1) Sender (0: same as From),
//	          uvarint(n+1) ReplyTo (0: same as From), list To, Cc, Bcc
//	address:  bytes Name, Route, Mailbox, Host
//	part:     uvarint flags (1: Message, 2: MessageEnvelope),
//	          string Type, Subtype, list Params (string Name, Value),
//	          bytes ID, Description, Encoding, string Disposition,
//	          list DispositionParams, list Language (bytes),
//	          bytes Location, MD5, varint HeaderStart, BodyStart, End,
//	          Lines, list Children (part), [envelope], [part]
//
// Empty lists decode as nil.
const formatVersion = 1

const (
	metaHeaderTruncated = 1 << iota
	metaHasStructure
)

const (
	partHasMessage = 1 << iota
	partHasEnvelope
)

// Minimum encoded sizes, to bound allocations from forged counts.
const (
	minPartSize     = 17
	minEnvelopeSize = 10
	minAddressSize  = 4
	minParamSize    = 2
	minLangSize     = 1
	// maxDecodeDepth bounds recursion: each nesting level of Parse is one
	// part (a child or an encapsulated message).
	maxDecodeDepth = MaxDepth + 2
)

// ErrCorrupt is returned by Unmarshal for data that is not a valid
// encoding.
var ErrCorrupt = errors.New("message: corrupt metadata encoding")

// ErrVersion is returned by Unmarshal for an unknown format version.
var ErrVersion = errors.New("message: unknown metadata format version")

type counts struct {
	parts, envs, addrs, params, langs, kids int
}

func (c *counts) envelope(e *Envelope) {
	c.envs++
	c.addrs += len(e.From) + len(e.To) + len(e.Cc) + len(e.Bcc)
	if !sameAddrs(e.Sender, e.From) {
		c.addrs += len(e.Sender)
	}
	if !sameAddrs(e.ReplyTo, e.From) {
		c.addrs += len(e.ReplyTo)
	}
}

func (c *counts) part(p *Part) {
	c.parts++
	if p == nil {
		return
	}
	c.params += len(p.Params) + len(p.DispositionParams)
	c.langs += len(p.Language)
	c.kids += len(p.Children)
	for _, ch := range p.Children {
		c.part(ch)
	}
	if p.MessageEnvelope != nil {
		c.envelope(p.MessageEnvelope)
	}
	if p.Message != nil {
		c.part(p.Message)
	}
}

// sameAddrs reports whether a is the very same slice as from (as set by
// Parse when Sender or Reply-To is absent).
func sameAddrs(a, from []Address) bool {
	return len(a) == len(from) && len(a) > 0 && &a[0] == &from[0]
}

// Marshal encodes m in the compact binary format read by Unmarshal. The
// first byte is the format version.
func (m *Meta) Marshal() []byte {
	var c counts
	c.envelope(&m.Envelope)
	if m.Structure != nil {
		c.part(m.Structure)
	}
	e := encoder{
		b:    make([]byte, 0, 64+len(m.Header)+c.parts*40+c.addrs*24),
		strs: make([]byte, 0, 16+len(m.Preview)+c.parts*16+c.params*16),
	}
	var flags uint64
	if m.HeaderTruncated {
		flags |= metaHeaderTruncated
	}
	if m.Structure != nil {
		flags |= metaHasStructure
	}
	e.b = binary.AppendUvarint(e.b, flags)
	e.b = binary.AppendVarint(e.b, m.Size)
	for _, n := range [...]int{c.parts, c.envs, c.addrs, c.params, c.langs, c.kids} {
		e.b = binary.AppendUvarint(e.b, uint64(n))
	}
	e.bytes(m.Header)
	e.string(m.Preview)
	e.envelope(&m.Envelope)
	if m.Structure != nil {
		e.part(m.Structure)
	}
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(e.strs)+len(e.b))
	out = append(out, formatVersion)
	out = binary.AppendUvarint(out, uint64(len(e.strs)))
	out = append(out, e.strs...)
	return append(out, e.b...)
}

// encoder holds the main stream and the string section being written.
type encoder struct {
	b, strs []byte
}

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }

func (e *encoder) bytes(v []byte) {
	if v == nil {
		e.b = append(e.b, 0)
		return
	}
	e.uvarint(uint64(len(v)) + 1)
	e.b = append(e.b, v...)
}

func (e *encoder) string(s string) {
	e.uvarint(uint64(len(s)))
	e.strs = append(e.strs, s...)
}

func (e *encoder) addrs(as []Address) {
	for i := range as {
		a := &as[i]
		e.bytes(a.Name)
		e.bytes(a.Route)
		e.bytes(a.Mailbox)
		e.bytes(a.Host)
	}
}

func (e *encoder) addrList(as []Address) {
	e.uvarint(uint64(len(as)))
	e.addrs(as)
}

func (e *encoder) envelope(env *Envelope) {
	e.bytes(env.Date)
	e.bytes(env.Subject)
	e.bytes(env.InReplyTo)
	e.bytes(env.MessageID)
	e.addrList(env.From)
	for _, as := range [2][]Address{env.Sender, env.ReplyTo} {
		if sameAddrs(as, env.From) {
			e.uvarint(0)
		} else {
			e.uvarint(uint64(len(as)) + 1)
			e.addrs(as)
		}
	}
	e.addrList(env.To)
	e.addrList(env.Cc)
	e.addrList(env.Bcc)
}

func (e *encoder) params(ps []Param) {
	e.uvarint(uint64(len(ps)))
	for _, p := range ps {
		e.string(p.Name)
		e.string(p.Value)
	}
}

func (e *encoder) part(p *Part) {
	if p == nil {
		p = &Part{}
	}
	var flags uint64
	if p.Message != nil {
		flags |= partHasMessage
	}
	if p.MessageEnvelope != nil {
		flags |= partHasEnvelope
	}
	e.uvarint(flags)
	e.string(p.Type)
	e.string(p.Subtype)
	e.params(p.Params)
	e.bytes(p.ID)
	e.bytes(p.Description)
	e.bytes(p.Encoding)
	e.string(p.Disposition)
	e.params(p.DispositionParams)
	e.uvarint(uint64(len(p.Language)))
	for _, l := range p.Language {
		e.bytes(l)
	}
	e.bytes(p.Location)
	e.bytes(p.MD5)
	e.b = binary.AppendVarint(e.b, p.HeaderStart)
	e.b = binary.AppendVarint(e.b, p.BodyStart)
	e.b = binary.AppendVarint(e.b, p.End)
	e.b = binary.AppendVarint(e.b, p.Lines)
	e.uvarint(uint64(len(p.Children)))
	for _, c := range p.Children {
		e.part(c)
	}
	if p.MessageEnvelope != nil {
		e.envelope(p.MessageEnvelope)
	}
	if p.Message != nil {
		e.part(p.Message)
	}
}

// decoder reads the format. All variable-size items are carved out of a
// few blocks allocated up front, sized by the counts in the header, so that
// decoding a typical message costs a handful of allocations.
type decoder struct {
	b   []byte // the main stream, for []byte fields
	i   int    // offset in b
	s   string // the string section
	si  int    // offset in s
	bad bool

	parts  []Part
	envs   []Envelope
	addrs  []Address
	params []Param
	langs  [][]byte
	kids   []*Part
}

// Unmarshal decodes metadata encoded by Marshal. It returns an error for
// any input that is not a valid encoding, including offsets that are not
// ordered within the message; memory use is bounded by a small multiple of
// len(b). The result does not alias b.
func Unmarshal(b []byte) (*Meta, error) {
	return unmarshal(b, true)
}

// UnmarshalAlias is Unmarshal without the copy of b: the byte slices of
// the result (Header, envelope and part fields) point into b, which the
// caller must then neither modify nor reuse while the result is in use.
// Strings are still copied.
func UnmarshalAlias(b []byte) (*Meta, error) {
	return unmarshal(b, false)
}

func unmarshal(b []byte, copyInput bool) (*Meta, error) {
	if len(b) == 0 {
		return nil, ErrCorrupt
	}
	if b[0] != formatVersion {
		return nil, ErrVersion
	}
	sl, n := binary.Uvarint(b[1:])
	if n <= 0 || sl > uint64(len(b)-1-n) {
		return nil, ErrCorrupt
	}
	main := b[1+n+int(sl):]
	if copyInput {
		main = append([]byte(nil), main...)
	}
	d := decoder{b: main, s: string(b[1+n : 1+n+int(sl)])}
	flags := d.uvarint()
	size := d.varint()
	var cnt [6]int
	for k := range cnt {
		cnt[k] = d.count()
	}
	if d.bad || flags > metaHeaderTruncated|metaHasStructure || size < 0 {
		return nil, ErrCorrupt
	}
	rest := uint64(len(d.b) - d.i)
	if uint64(cnt[0]) > rest/minPartSize || cnt[1] < 1 || uint64(cnt[1]) > rest/minEnvelopeSize ||
		uint64(cnt[2]) > rest/minAddressSize || uint64(cnt[3]) > rest/minParamSize ||
		uint64(cnt[4]) > rest/minLangSize || cnt[5] > cnt[0] {
		return nil, ErrCorrupt
	}
	if cnt[0] > 0 {
		d.parts = make([]Part, cnt[0])
	}
	if cnt[1] > 1 {
		d.envs = make([]Envelope, cnt[1]-1) // the first is in Meta
	}
	if cnt[2] > 0 {
		d.addrs = make([]Address, cnt[2])
	}
	if cnt[3] > 0 {
		d.params = make([]Param, cnt[3])
	}
	if cnt[4] > 0 {
		d.langs = make([][]byte, cnt[4])
	}
	if cnt[5] > 0 {
		d.kids = make([]*Part, cnt[5])
	}
	m := &Meta{Size: size, HeaderTruncated: flags&metaHeaderTruncated != 0}
	m.Header = d.bytes()
	m.Preview = d.string()
	d.envelope(&m.Envelope)
	if flags&metaHasStructure != 0 {
		m.Structure = d.part(0, 0, size)
	}
	if d.bad || d.i != len(d.b) || d.si != len(d.s) || len(d.parts) != 0 || len(d.envs) != 0 ||
		len(d.addrs) != 0 || len(d.params) != 0 || len(d.langs) != 0 || len(d.kids) != 0 ||
		!utf8.ValidString(m.Preview) {
		return nil, ErrCorrupt
	}
	return m, nil
}

func (d *decoder) uvarint() uint64 {
	if d.bad {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.i += n
	return v
}

func (d *decoder) varint() int64 {
	if d.bad {
		return 0
	}
	v, n := binary.Varint(d.b[d.i:])
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.i += n
	return v
}

// count reads a count that cannot exceed the remaining input.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.b)-d.i) {
		d.bad = true
		return 0
	}
	return int(v)
}

func (d *decoder) bytes() []byte {
	v := d.uvarint()
	if v == 0 || d.bad {
		return nil
	}
	v--
	if v > uint64(len(d.b)-d.i) {
		d.bad = true
		return nil
	}
	j := d.i + int(v)
	out := d.b[d.i:j:j]
	d.i = j
	return out
}

func (d *decoder) string() string {
	v := d.uvarint()
	if v > uint64(len(d.s)-d.si) {
		d.bad = true
		return ""
	}
	j := d.si + int(v)
	out := d.s[d.si:j]
	d.si = j
	return out
}

func (d *decoder) takeAddrs(n int) []Address {
	if n == 0 {
		return nil
	}
	if n > len(d.addrs) {
		d.bad = true
		return nil
	}
	as := d.addrs[:n:n]
	d.addrs = d.addrs[n:]
	for i := range as {
		a := &as[i]
		a.Name = d.bytes()
		a.Route = d.bytes()
		a.Mailbox = d.bytes()
		a.Host = d.bytes()
	}
	return as
}

func (d *decoder) addrList() []Address {
	return d.takeAddrs(d.count())
}

func (d *decoder) envelope(e *Envelope) {
	e.Date = d.bytes()
	e.Subject = d.bytes()
	e.InReplyTo = d.bytes()
	e.MessageID = d.bytes()
	e.From = d.addrList()
	for _, dst := range [2]*[]Address{&e.Sender, &e.ReplyTo} {
		v := d.uvarint()
		if v == 0 {
			*dst = e.From
			continue
		}
		if v-1 > uint64(len(d.addrs)) {
			d.bad = true
			return
		}
		*dst = d.takeAddrs(int(v - 1))
	}
	e.To = d.addrList()
	e.Cc = d.addrList()
	e.Bcc = d.addrList()
}

func (d *decoder) paramList() []Param {
	n := d.count()
	if n == 0 || d.bad {
		return nil
	}
	if n > len(d.params) {
		d.bad = true
		return nil
	}
	ps := d.params[:n:n]
	d.params = d.params[n:]
	for i := range ps {
		ps[i].Name = d.string()
		ps[i].Value = d.string()
	}
	return ps
}

// part decodes a part that must lie within [lo, hi] of the message.
func (d *decoder) part(depth int, lo, hi int64) *Part {
	if d.bad {
		return nil
	}
	if depth > maxDecodeDepth || len(d.parts) == 0 {
		d.bad = true
		return nil
	}
	p := &d.parts[0]
	d.parts = d.parts[1:]
	flags := d.uvarint()
	if flags > partHasMessage|partHasEnvelope {
		d.bad = true
		return nil
	}
	p.Type = d.string()
	p.Subtype = d.string()
	p.Params = d.paramList()
	p.ID = d.bytes()
	p.Description = d.bytes()
	p.Encoding = d.bytes()
	p.Disposition = d.string()
	p.DispositionParams = d.paramList()
	if n := d.count(); n > 0 && !d.bad {
		if n > len(d.langs) {
			d.bad = true
			return nil
		}
		p.Language = d.langs[:n:n]
		d.langs = d.langs[n:]
		for i := range p.Language {
			p.Language[i] = d.bytes()
		}
	}
	p.Location = d.bytes()
	p.MD5 = d.bytes()
	p.HeaderStart = d.varint()
	p.BodyStart = d.varint()
	p.End = d.varint()
	p.Lines = d.varint()
	if d.bad || p.HeaderStart < lo || p.BodyStart < p.HeaderStart || p.End < p.BodyStart ||
		p.End > hi || p.Lines < 0 {
		d.bad = true
		return nil
	}
	if n := d.count(); n > 0 && !d.bad {
		if n > len(d.kids) {
			d.bad = true
			return nil
		}
		p.Children = d.kids[:n:n]
		d.kids = d.kids[n:]
		for i := range p.Children {
			p.Children[i] = d.part(depth+1, p.BodyStart, p.End)
			if d.bad {
				return nil
			}
		}
	}
	if flags&partHasEnvelope != 0 {
		if len(d.envs) == 0 {
			d.bad = true
			return nil
		}
		p.MessageEnvelope = &d.envs[0]
		d.envs = d.envs[1:]
		d.envelope(p.MessageEnvelope)
	}
	if flags&partHasMessage != 0 {
		p.Message = d.part(depth+1, p.BodyStart, p.End)
	}
	return p
}
