package message

// Lenient RFC 5322 section 3.4 address-list parser, in the spirit of
// Dovecot's message-address parser: it never fails and returns whatever can
// be salvaged.
//
// Choices on malformed input:
//   - A mailbox without "@" ("undisclosed-recipients", "<foo>") gets an
//     empty, non-nil Host, so that it is not taken for a group marker.
//   - "<>" gives an empty Mailbox and Host.
//   - After an address, anything up to the next "," or ";" is junk and
//     skipped (its first comment may still give the display name).
//   - Bytes that are not allowed in atoms (8-bit bytes, ">", ")", "[",
//     "\" outside their place...) are kept as part of the surrounding word.
//   - An unterminated quoted string, comment or angle address runs to the
//     end of the field. A group without ";" is closed at the end.
//   - ":" only starts a group when a non-empty phrase precedes it and no
//     group is open; otherwise it is an ordinary byte.

type addrParser struct {
	s []byte
	i int
	// comment is the last comment seen by skipCFWS, used as a display
	// name when the address has none.
	comment []byte
}

// parseAddressList parses an unfolded address-list field value.
func parseAddressList(s []byte) []Address {
	p := addrParser{s: s}
	var out []Address
	inGroup := false
	for {
		p.skipCFWS()
		if p.i >= len(s) {
			break
		}
		switch s[p.i] {
		case ',':
			p.i++
			continue
		case ';':
			// End of group (RFC 5322 section 3.4); stray ones are skipped.
			if inGroup {
				out = append(out, Address{})
				inGroup = false
			}
			p.i++
			continue
		}
		start := p.i
		a, group, ok := p.parseOne(inGroup)
		if group {
			out = append(out, Address{Mailbox: a.Mailbox})
			inGroup = true
		} else if ok {
			out = append(out, a)
		}
		if p.i == start {
			p.i++ // always make progress
		}
	}
	if inGroup {
		out = append(out, Address{})
	}
	return out
}

// skipCFWS skips blanks and comments, remembering the last comment.
func (p *addrParser) skipCFWS() bool {
	skipped := false
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		case '(':
			p.i, p.comment = skipComment(p.s, p.i)
		default:
			return skipped
		}
		skipped = true
	}
	return skipped
}

// isAtomEnd reports whether c ends a lenient atom.
func isAtomEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '(', '"', '<', ':', '@', ',', ';', '.':
		return true
	}
	return false
}

// parseOne parses one mailbox (name-addr or addr-spec) or the start of a
// group. group is true for a group start, whose name is in a.Mailbox.
func (p *addrParser) parseOne(inGroup bool) (a Address, group, ok bool) {
	s := p.s
	var name []byte  // display name: words separated by single spaces
	var local []byte // the same words as a raw local-part
	p.comment = nil
	space := false
	addWord := func(nameWord, localWord []byte) {
		if space && len(name) > 0 {
			name = append(name, ' ')
		}
		name = append(name, nameWord...)
		local = append(local, localWord...)
		space = false
	}
	for {
		if p.skipCFWS() {
			space = true
		}
		if p.i >= len(s) {
			break
		}
		c := s[p.i]
		switch c {
		case '"':
			start := p.i
			var q []byte
			p.i, q = readQuoted(s, p.i)
			if q == nil {
				q = []byte{}
			}
			addWord(q, s[start:p.i])
			continue
		case '.':
			p.i++
			if len(name) > 0 && space {
				name = append(name, ' ')
			}
			name = append(name, '.')
			local = append(local, '.')
			space = false
			continue
		case '<':
			a = p.angleAddr()
			if len(name) > 0 {
				a.Name = name
			}
			p.skipJunk()
			if a.Name == nil && len(p.comment) > 0 {
				a.Name = cloneBytes(p.comment)
			}
			return a, false, true
		case '@':
			p.i++
			a.Mailbox = nonNil(local)
			a.Host = p.domain(false)
			p.skipJunk()
			if len(p.comment) > 0 {
				a.Name = cloneBytes(p.comment)
			}
			return a, false, true
		case ':':
			if !inGroup && len(name) > 0 {
				p.i++
				return Address{Mailbox: name}, true, false
			}
			p.i++
			addWord([]byte{':'}, []byte{':'})
			continue
		case ',', ';':
		default:
			j := p.i
			for j < len(s) && !isAtomEnd(s[j]) {
				j++
			}
			if j == p.i {
				j++ // lone special; keep it as data
			}
			w := s[p.i:j]
			p.i = j
			addWord(w, w)
			continue
		}
		break
	}
	if len(local) == 0 {
		return Address{}, false, false
	}
	// A word or phrase without "@": a mailbox without a host.
	a.Mailbox = local
	a.Host = []byte{}
	if len(p.comment) > 0 {
		a.Name = cloneBytes(p.comment)
	}
	return a, false, true
}

// angleAddr parses "<[route:]local@domain>" from s[i] == '<'
// (RFC 5322 section 3.4, obs-route in section 4.4).
func (p *addrParser) angleAddr() Address {
	s := p.s
	p.i++
	var a Address
	p.skipCFWS()
	if p.i < len(s) && s[p.i] == '@' {
		// obs-route: "@a,@b:" ; only taken if a ':' comes before '>'.
		j := p.i
		for j < len(s) && s[j] != ':' && s[j] != '>' {
			j++
		}
		if j < len(s) && s[j] == ':' {
			a.Route = compactRoute(s[p.i:j])
			p.i = j + 1
		}
	}
	var local []byte
	for {
		p.skipCFWS()
		if p.i >= len(s) {
			break
		}
		c := s[p.i]
		if c == '>' {
			p.i++
			a.Mailbox = nonNil(local)
			a.Host = []byte{}
			return a
		}
		if c == '@' {
			p.i++
			a.Mailbox = nonNil(local)
			a.Host = p.domain(true)
			p.skipCFWS()
			if p.i < len(s) && s[p.i] == '>' {
				p.i++
			}
			return a
		}
		if c == '"' {
			start := p.i
			p.i, _ = readQuoted(s, p.i)
			local = append(local, s[start:p.i]...)
			continue
		}
		if c == ',' || c == ';' || c == '<' {
			break // unterminated: salvage what we have
		}
		j := p.i
		for j < len(s) && !isAtomEnd(s[j]) && s[j] != '>' {
			j++
		}
		if j == p.i {
			j++
		}
		local = append(local, s[p.i:j]...)
		p.i = j
	}
	a.Mailbox = nonNil(local)
	a.Host = []byte{}
	return a
}

// domain parses a domain after "@": dot-atoms and domain literals, CFWS
// removed (RFC 5322 section 3.4.1). inAngle makes '>' end it.
func (p *addrParser) domain(inAngle bool) []byte {
	s := p.s
	out := []byte{}
	for {
		p.skipCFWS()
		if p.i >= len(s) {
			return out
		}
		c := s[p.i]
		switch {
		case c == '[':
			j := p.i + 1
			for j < len(s) && s[j] != ']' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j < len(s) {
				j++
			} else {
				j = len(s)
			}
			out = append(out, s[p.i:j]...)
			p.i = j
		case c == '.':
			out = append(out, '.')
			p.i++
			continue
		case c == '>' && inAngle, c == ',', c == ';', c == '<', c == '"', c == ':', c == '@':
			return out
		default:
			j := p.i
			for j < len(s) && !isAtomEnd(s[j]) && s[j] != '[' && !(inAngle && s[j] == '>') {
				j++
			}
			if j == p.i {
				return out
			}
			out = append(out, s[p.i:j]...)
			p.i = j
		}
		// A domain continues only with a dot.
		save := p.i
		p.skipCFWS()
		if p.i >= len(s) || s[p.i] != '.' {
			p.i = save
			return out
		}
	}
}

// skipJunk skips to the next "," or ";" (not consumed), remembering
// comments.
func (p *addrParser) skipJunk() {
	s := p.s
	for {
		p.skipCFWS()
		if p.i >= len(s) || s[p.i] == ',' || s[p.i] == ';' {
			return
		}
		if s[p.i] == '"' {
			p.i, _ = readQuoted(s, p.i)
			continue
		}
		p.i++
	}
}

// compactRoute removes blanks and comments from an obs-route.
func compactRoute(r []byte) []byte {
	out := make([]byte, 0, len(r))
	for i := 0; i < len(r); {
		switch r[i] {
		case ' ', '\t', '\r', '\n':
			i++
		case '(':
			i, _ = skipComment(r, i)
		default:
			out = append(out, r[i])
			i++
		}
	}
	return out
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
