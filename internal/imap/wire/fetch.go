package wire

import (
	"strconv"
	"strings"
)

// Fetch is FETCH (RFC 9051 section 6.4.5) with the modifiers of CONDSTORE
// and QRESYNC (RFC 7162 sections 3.1.4.1 and 3.2.6).
type Fetch struct {
	// Set are the messages, by sequence number or by UID.
	Set NumSet
	// Macro is ALL, FAST or FULL when the client used one; Atts then
	// holds its expansion (RFC 9051 section 6.4.5).
	Macro string
	// Atts are the attributes asked for, in the client's order.
	Atts []FetchAtt
	// ChangedSince is the CHANGEDSINCE modifier, 0 when absent.
	ChangedSince uint64
	// Vanished is the VANISHED modifier, only with UID FETCH and
	// CHANGEDSINCE.
	Vanished bool
}

// FetchAtt is one fetch-att (RFC 9051 section 9).
type FetchAtt struct {
	// Name is uppercased: ENVELOPE, FLAGS, INTERNALDATE, RFC822,
	// RFC822.HEADER, RFC822.SIZE, RFC822.TEXT, BODY, BODYSTRUCTURE, UID,
	// BINARY, BINARY.SIZE, MODSEQ, EMAILID, THREADID, SAVEDATE or PREVIEW.
	// BODY.PEEK and BINARY.PEEK are BODY and BINARY with Peek.
	Name string
	// Peek is set for BODY.PEEK and BINARY.PEEK: \Seen is not set.
	Peek bool
	// Section is the [section] of BODY, BINARY and BINARY.SIZE; nil for
	// BODY without one, the body structure.
	Section *Section
	// Partial is the <offset.count> of BODY[...] and BINARY[...], or nil.
	Partial *Partial
	// Lazy is the (LAZY) modifier of PREVIEW (RFC 8970 section 3.1).
	Lazy bool
}

// Section is a body section (RFC 9051 section 6.4.5, section-spec).
type Section struct {
	// Part is the section-part, like 1.2.3; nil for the whole message.
	Part []uint32
	// Text is "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT or MIME.
	// BINARY sections have only Part.
	Text string
	// Fields are the header field names of HEADER.FIELDS[.NOT], as sent.
	Fields []string
}

// Partial is a byte range of a section: <offset.count>.
type Partial struct {
	// Offset is the first octet, from 0.
	Offset int64
	// Count is the number of octets, at least 1.
	Count int64
}

// ResponseName returns the name of the attribute in the FETCH response
// (RFC 9051 section 7.5.2): BODY.PEEK[...] is answered as BODY[...], and a
// partial as <offset> only.
func (a FetchAtt) ResponseName() string {
	if a.Section == nil {
		return a.Name
	}
	var b strings.Builder
	b.WriteString(a.Name)
	b.WriteByte('[')
	for i, n := range a.Section.Part {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	if a.Section.Text != "" {
		if len(a.Section.Part) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(a.Section.Text)
	}
	if a.Section.Fields != nil {
		b.WriteString(" (")
		for i, f := range a.Section.Fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.Write(AppendAstring(nil, f, true))
		}
		b.WriteByte(')')
	}
	b.WriteByte(']')
	if a.Partial != nil {
		b.WriteByte('<')
		b.WriteString(strconv.FormatInt(a.Partial.Offset, 10))
		b.WriteByte('>')
	}
	return b.String()
}

// fetchMacros are the expansions of RFC 9051 section 6.4.5.
var fetchMacros = map[string][]string{
	"ALL":  {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"},
	"FAST": {"FLAGS", "INTERNALDATE", "RFC822.SIZE"},
	"FULL": {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"},
}

// xfetch reads FETCH (RFC 9051 section 9, RFC 7162 section 7):
//
//	fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
//	        fetch-att / "(" fetch-att *(SP fetch-att) ")")
//	        [fetch-modifiers]
func (p *parser) xfetch(cmd *Command) Args {
	p.xsp()
	f := &Fetch{Set: p.xnumSet()}
	p.xsp()
	if p.takeByte('(') {
		for {
			f.Atts = append(f.Atts, p.xfetchAtt())
			if p.takeByte(')') {
				break
			}
			p.xsp()
		}
	} else {
		start := p.pos
		w := p.xkeyword("fetch attribute")
		if names, ok := fetchMacros[w]; ok {
			f.Macro = w
			for _, n := range names {
				f.Atts = append(f.Atts, FetchAtt{Name: n})
			}
		} else {
			p.pos = start
			f.Atts = append(f.Atts, p.xfetchAtt())
		}
	}
	if p.takeByte(' ') {
		// fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
		// (RFC 4466 section 2.4).
		p.xbyte('(')
		for {
			switch w := p.xkeyword("fetch modifier"); w {
			case "CHANGEDSINCE":
				p.xsp()
				f.ChangedSince = p.xmodSeq(false)
			case "VANISHED":
				f.Vanished = true
			default:
				p.xerrorf("", "unknown fetch modifier %s", w)
			}
			if p.takeByte(')') {
				break
			}
			p.xsp()
		}
		// RFC 7162 section 3.2.6: VANISHED only in UID FETCH, and only
		// with CHANGEDSINCE.
		if f.Vanished && (!cmd.UID || f.ChangedSince == 0) {
			p.xerrorf("", "VANISHED needs UID FETCH and CHANGEDSINCE")
		}
	}
	return f
}

// simpleFetchAtts are the fetch-att names without arguments.
var simpleFetchAtts = map[string]bool{
	"ENVELOPE": true, "FLAGS": true, "INTERNALDATE": true, "RFC822": true,
	"RFC822.HEADER": true, "RFC822.SIZE": true, "RFC822.TEXT": true,
	"BODYSTRUCTURE": true, "UID": true,
	// RFC 7162 section 3.1.4.1.
	"MODSEQ": true,
	// RFC 8474 section 5.
	"EMAILID": true, "THREADID": true,
	// RFC 8514 section 4.2.
	"SAVEDATE": true,
}

// xfetchAtt reads one fetch-att (RFC 9051 section 9; RFC 3516 section 4.2
// for BINARY; RFC 8970 section 3.1 for PREVIEW).
func (p *parser) xfetchAtt() FetchAtt {
	a := FetchAtt{Name: p.xkeyword("fetch attribute")}
	if simpleFetchAtts[a.Name] {
		return a
	}
	switch a.Name {
	case "BODY":
		if p.peek() != '[' {
			return a // the body structure without extensions
		}
		a.Section = p.xsection()
		a.Partial = p.xpartial()
	case "BODY.PEEK":
		a.Name, a.Peek = "BODY", true
		a.Section = p.xsection()
		a.Partial = p.xpartial()
	case "BINARY", "BINARY.PEEK":
		a.Peek = a.Name == "BINARY.PEEK"
		a.Name = "BINARY"
		a.Section = p.xsectionBinary()
		a.Partial = p.xpartial()
	case "BINARY.SIZE":
		a.Section = p.xsectionBinary()
	case "PREVIEW":
		// "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"], with
		// preview-mod = "LAZY": looked ahead, as "(" may also start
		// the fetch modifiers after a lone fetch-att.
		rest := p.line[p.pos:]
		if len(rest) >= 6 && strings.EqualFold(string(rest[:6]), " (LAZY") && (len(rest) == 6 || rest[6] == ')' || rest[6] == ' ') {
			p.pos += 2
			for {
				p.xtake("LAZY")
				a.Lazy = true
				if p.takeByte(')') {
					break
				}
				p.xsp()
			}
		}
	default:
		p.xerrorf("", "unknown fetch attribute %s", a.Name)
	}
	return a
}

// xsection reads a section: "[" [section-spec] "]".
//
//	section-spec    = section-msgtext / (section-part ["." section-text])
//	section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list /
//	                  "TEXT"
//	section-part    = nz-number *("." nz-number)
//	section-text    = section-msgtext / "MIME"
func (p *parser) xsection() *Section {
	s := &Section{}
	p.xbyte('[')
	if p.takeByte(']') {
		return s
	}
	text := true
	if c := p.peek(); c >= '0' && c <= '9' {
		s.Part = p.xsectionPart()
		text = p.takeByte('.')
	}
	if text {
		s.Text = strings.ToUpper(string(p.xspan(&sectionTextChar, "section text")))
		switch s.Text {
		case "HEADER", "TEXT":
		case "MIME":
			if s.Part == nil {
				p.xerrorf("", "MIME needs a section part")
			}
		case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
			p.xsp()
			p.xbyte('(')
			s.Fields = []string{p.xastring()}
			for p.takeByte(' ') {
				s.Fields = append(s.Fields, p.xastring())
			}
			p.xbyte(')')
		default:
			p.xerrorf("", "unknown section %s", s.Text)
		}
	}
	p.xbyte(']')
	return s
}

var sectionTextChar [256]bool

func init() {
	for c := 'A'; c <= 'Z'; c++ {
		sectionTextChar[c] = true
		sectionTextChar[c+'a'-'A'] = true
	}
	sectionTextChar['.'] = true
}

// xsectionPart reads nz-number *("." nz-number), stopping before a "."
// that is not followed by a digit.
func (p *parser) xsectionPart() []uint32 {
	part := []uint32{p.xnznumber()}
	for p.pos+1 < len(p.line) && p.line[p.pos] == '.' && p.line[p.pos+1] >= '0' && p.line[p.pos+1] <= '9' {
		p.pos++
		part = append(part, p.xnznumber())
	}
	return part
}

// xsectionBinary reads section-binary = "[" [section-part] "]" (RFC 3516
// section 4.2).
func (p *parser) xsectionBinary() *Section {
	s := &Section{}
	p.xbyte('[')
	if !p.takeByte(']') {
		s.Part = p.xsectionPart()
		p.xbyte(']')
	}
	return s
}

// xpartial reads an optional partial = "<" number64 "." nz-number64 ">"
// (RFC 9051 section 9).
func (p *parser) xpartial() *Partial {
	if !p.takeByte('<') {
		return nil
	}
	pa := &Partial{Offset: p.xnumber64()}
	p.xbyte('.')
	pa.Count = p.xnumber64()
	if pa.Count == 0 {
		p.xerrorf("", "partial count must not be zero")
	}
	p.xbyte('>')
	return pa
}
