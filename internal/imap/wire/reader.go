package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Limits bound what one client can make the Reader read and allocate. A
// zero field takes its value from DefaultLimits, except NonSyncLiteral,
// where zero means no limit beyond the others (LITERAL+).
type Limits struct {
	// MaxLine is the longest line, or line fragment between literals, in
	// octets without the line end.
	MaxLine int
	// MaxLiteral is the largest literal in a command other than APPEND.
	MaxLiteral int64
	// MaxCommand is the most octets of lines and literals one command may
	// take (APPEND message data excluded), so the most one command holds
	// in memory.
	MaxCommand int64
	// MaxAppend is the largest message literal of APPEND (RFC 7889
	// APPENDLIMIT); it is streamed, never held in memory.
	MaxAppend int64
	// NonSyncLiteral is the largest non-synchronizing literal {N+}
	// accepted: 4096 when the server announces LITERAL- rather than
	// LITERAL+ (RFC 7888 section 5; IMAP4rev2 servers have at least
	// LITERAL-, RFC 9051 section 4.3), 0 for no limit of its own.
	NonSyncLiteral int64
	// MaxDiscard is the largest non-synchronizing literal that the Reader
	// reads and throws away to resynchronise after an error; a larger one
	// makes the error Fatal.
	MaxDiscard int64
}

// DefaultLimits returns the limits used for zero fields of Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxLine:    64 << 10,
		MaxLiteral: 1 << 20,
		MaxCommand: 2 << 20,
		MaxAppend:  64 << 20,
		MaxDiscard: 64 << 20,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxLine <= 0 {
		l.MaxLine = d.MaxLine
	}
	if l.MaxLiteral <= 0 {
		l.MaxLiteral = d.MaxLiteral
	}
	if l.MaxCommand <= 0 {
		l.MaxCommand = d.MaxCommand
	}
	if l.MaxAppend <= 0 {
		l.MaxAppend = d.MaxAppend
	}
	if l.MaxDiscard <= 0 {
		l.MaxDiscard = d.MaxDiscard
	}
	return l
}

// Reader reads commands from a client connection. It is not safe for
// concurrent use.
type Reader struct {
	br     *bufio.Reader
	cont   func() error
	limits Limits

	// line is the buffer of the current line fragment, reused.
	line []byte
	// pending is the APPEND whose messages are being read, if any.
	pending *Append
}

// NewReader returns a Reader of commands from br. cont is called when the
// client sends a synchronizing literal {N} that the Reader is going to
// read: the server must then send a command continuation request ("+ ...")
// and flush, since the client sends the N octets only after it (RFC 9051
// sections 4.3 and 7.5). An error from cont ends the command with that
// error. Non-synchronizing literals {N+} (RFC 7888) are read without
// calling it.
func NewReader(br *bufio.Reader, cont func() error, limits Limits) *Reader {
	return &Reader{br: br, cont: cont, limits: limits.withDefaults()}
}

// Limits returns the limits in force, defaults filled in.
func (r *Reader) Limits() Limits { return r.limits }

// Buffered returns the number of octets read from the connection but not
// yet parsed. After STARTTLS or COMPRESS it must be zero: anything the
// client sent before the handshake must not be taken as sent after it
// (RFC 9051 section 6.2.1, RFC 4978 section 3).
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Reset makes the Reader read from br from now on, as after STARTTLS or
// COMPRESS DEFLATE.
func (r *Reader) Reset(br *bufio.Reader) {
	r.br = br
	r.pending = nil
}

// ReadLine reads one line that is not a command: a continuation of
// AUTHENTICATE (RFC 9051 section 6.2.2) or the DONE that ends IDLE (RFC
// 9051 section 6.3.13). The line end is not included; literals are not
// interpreted. A line longer than MaxLine is read to its end, thrown away,
// and reported as a non-fatal ParseError with code TOOBIG.
func (r *Reader) ReadLine() ([]byte, error) {
	if err := r.finishPending(); err != nil {
		return nil, err
	}
	p := &parser{r: r}
	var line []byte
	err := p.run(func() {
		p.xreadFragment(true)
		line = append([]byte(nil), p.line...)
	})
	return line, err
}

// trailer is a literal announcement that ends a line fragment: "{" number64
// ["+"] "}" (RFC 9051 section 9, literal; RFC 7888 section 6) or the same
// after "~" (literal8, RFC 3516 section 4.1).
type trailer struct {
	ok     bool
	sync   bool
	binary bool
	n      int64
	start  int // offset of "{" (or "~") in the fragment, when kept
}

func parseTrailer(b []byte) (t trailer) {
	i := len(b) - 1
	if i < 2 || b[i] != '}' {
		return
	}
	i--
	t.sync = true
	if b[i] == '+' {
		t.sync = false
		i--
	}
	end := i + 1
	for i >= 0 && b[i] >= '0' && b[i] <= '9' {
		i--
	}
	if i < 0 || b[i] != '{' || i+1 == end {
		return
	}
	for _, c := range b[i+1 : end] {
		d := int64(c - '0')
		if t.n > (math.MaxInt64-d)/10 {
			t.n = math.MaxInt64 // saturate: too big for anything
			break
		}
		t.n = t.n*10 + d
	}
	t.ok = true
	t.start = i
	if i > 0 && b[i-1] == '~' {
		t.binary = true
		t.start = i - 1
	}
	return
}

// tailLen is how many octets at the end of an overlong or discarded line are
// kept to find a literal announcement: "~{" 19 digits "+}" is 24.
const tailLen = 32

// xreadFragment reads the next line fragment, up to the line end, into
// p.line (when keep) and its literal announcement into p.trailer. It counts
// the octets against MaxCommand. An overlong line is read to its end
// without keeping it and is a TOOBIG error.
func (p *parser) xreadFragment(keep bool) {
	r := p.r
	r.line = r.line[:0]
	p.line = nil
	p.pos = 0
	p.trailer = trailer{}
	var tail [tailLen]byte
	ntail := 0
	total := 0
	tooLong := false
	for {
		chunk, err := r.br.ReadSlice('\n')
		total += len(chunk)
		if keep && !tooLong && len(r.line)+len(chunk) > r.limits.MaxLine+2 {
			tooLong = true
			// Keep the start, for the tag.
			r.line = append(r.line, chunk[:r.limits.MaxLine+2-len(r.line)]...)
		}
		if keep && !tooLong {
			r.line = append(r.line, chunk...)
		} else {
			// Keep only the last tailLen octets.
			if len(chunk) >= tailLen {
				ntail = copy(tail[:], chunk[len(chunk)-tailLen:])
			} else {
				if ntail+len(chunk) > tailLen {
					drop := ntail + len(chunk) - tailLen
					copy(tail[:], tail[drop:ntail])
					ntail -= drop
				}
				ntail += copy(tail[ntail:], chunk)
			}
		}
		if err == nil {
			break
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			if total == 0 && p.tag == "" && !p.started {
				p.xio(io.EOF)
			}
			p.xio(io.ErrUnexpectedEOF)
		}
		p.xio(err)
	}
	p.started = true
	p.used += int64(total)
	var b []byte
	if keep && !tooLong {
		b = r.line
	} else {
		b = tail[:ntail]
	}
	// Line end: CRLF, or a bare LF as many servers accept.
	b = b[:len(b)-1]
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	p.trailer = parseTrailer(b)
	if keep && !tooLong {
		p.line = b
	} else {
		p.trailer.start = -1
	}
	if tooLong {
		if p.tag == "" {
			p.tag = tagOf(r.line)
		}
		p.xerrorf(CodeTooBig, "line longer than %d octets", r.limits.MaxLine)
	}
	if p.used > r.limits.MaxCommand {
		p.xerrorf(CodeTooBig, "command longer than %d octets", r.limits.MaxCommand)
	}
}

// tagOf returns the tag at the start of b, for the reply to a line too long
// to parse.
func tagOf(b []byte) string {
	for i, c := range b {
		if !tagChar[c] {
			if c == ' ' && i > 0 {
				return string(b[:i])
			}
			return ""
		}
	}
	return ""
}

// xliteralCheck refuses a literal announcement over the limits before
// anything is sent for it: max is the limit of its context.
func (p *parser) xliteralCheck(t trailer, max int64, what string) {
	if t.n > max {
		p.xerrorf(CodeTooBig, "%s of %d octets is over the limit of %d", what, t.n, max)
	}
	// RFC 7888 section 5: LITERAL- servers refuse non-synchronizing
	// literals over 4096 octets with BAD [TOOBIG].
	if !t.sync && p.r.limits.NonSyncLiteral > 0 && t.n > p.r.limits.NonSyncLiteral {
		p.xerrorf(CodeTooBig, "non-synchronizing literal of %d octets is over %d, use a synchronizing literal", t.n, p.r.limits.NonSyncLiteral)
	}
}

// xcontinue asks the client for the data of a synchronizing literal.
func (p *parser) xcontinue() {
	if p.r.cont == nil {
		return
	}
	if err := p.r.cont(); err != nil {
		p.xio(err)
	}
}

// xliteral reads the literal that the current fragment ends with, the
// parser being at its "{" (or "~{" when binary is allowed), then the next
// fragment. RFC 9051 section 4.3.
func (p *parser) xliteral(binary bool) string {
	t := p.trailer
	if !t.ok || t.start != p.pos {
		p.xerrorf("", "literal must end the line")
	}
	if t.binary && !binary {
		p.xerrorf("", "literal8 not allowed here")
	}
	p.xliteralCheck(t, p.r.limits.MaxLiteral, "literal")
	if p.used+t.n > p.r.limits.MaxCommand {
		p.xerrorf(CodeTooBig, "command longer than %d octets", p.r.limits.MaxCommand)
	}
	if t.sync {
		p.xcontinue()
	}
	p.trailer = trailer{}
	buf := make([]byte, t.n)
	if _, err := io.ReadFull(p.r.br, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		p.xio(err)
	}
	p.used += t.n
	p.xreadFragment(true)
	return string(buf)
}

// resync skips the rest of a command after a non-fatal error, so that the
// Reader is at the start of the next command. The rest of the current
// fragment is ignored; a synchronizing literal announced at its end is not
// sent by the client, which waits for a "+" it will not get (RFC 9051
// section 7.5: a BAD "prevent[s] the client from sending any more of the
// command"). A non-synchronizing literal is sent regardless: it is read and
// thrown away, up to MaxDiscard octets in all, beyond which the error turns
// Fatal (RFC 7888 section 4: the server has to read the literal or close the
// connection).
func (p *parser) resync(perr *ParseError) error {
	var discarded int64
	for {
		t := p.trailer
		if !t.ok || t.sync {
			return perr
		}
		if t.n > p.r.limits.MaxDiscard-discarded {
			perr.Fatal = true
			return perr
		}
		discarded += t.n
		if _, err := p.r.br.Discard(int(t.n)); err != nil {
			return err
		}
		p.trailer = trailer{}
		err := p.run(func() { p.xreadFragment(false) })
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				return err
			}
			// A too-long command is still skipped to its end.
		}
	}
}

// finishPending skips what is left of an APPEND that the server stopped
// reading (after answering NO, say).
func (r *Reader) finishPending() error {
	a := r.pending
	if a == nil {
		return nil
	}
	r.pending = nil
	return a.abort()
}

// ReadCommand reads the next command. Commands are read whole, literals
// included, except APPEND, whose messages are read one by one with
// Append.Next, streamed from the connection.
//
// A syntax error is a *ParseError; the Command is then returned too when
// its tag (and name) could be read, so that an unknown command comes back
// with Name set. Any other error (io.EOF at the start of a command,
// io.ErrUnexpectedEOF, network errors, an error from cont) is from the
// connection, which is then unusable.
func (r *Reader) ReadCommand() (*Command, error) {
	if err := r.finishPending(); err != nil {
		return nil, err
	}
	p := &parser{r: r}
	cmd := &Command{}
	err := p.run(func() {
		// Empty lines between commands are ignored.
		for {
			p.xreadFragment(true)
			if len(p.line) > 0 {
				break
			}
			p.used = 0
			p.started = false
		}
		p.xcommand(cmd)
	})
	if err == nil {
		return cmd, nil
	}
	var perr *ParseError
	if !errors.As(err, &perr) {
		if err == io.EOF && cmd.Tag != "" {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if cmd.Tag == "" && cmd.Name == "" {
		cmd = nil
	}
	if perr.Fatal {
		return cmd, perr
	}
	return cmd, p.resync(perr)
}

// errAppendDone is returned by the Read of an APPEND message body after the
// command was left.
var errAppendDone = errors.New("wire: APPEND message read after its command ended")

// Append is the APPEND command (RFC 9051 section 6.3.12), with one or more
// messages (MULTIAPPEND, RFC 3502). Its messages are read with Next, after
// the server has checked the mailbox; if it answers without reading them
// all, the next ReadCommand skips the rest of the command.
type Append struct {
	// Mailbox is the destination.
	Mailbox MailboxName

	p    *parser
	cur  *AppendMessage
	done bool
}

// AppendMessage is one message of an APPEND.
type AppendMessage struct {
	// Flags are the flags to set, nil when the client gave none (RFC 9051
	// section 6.3.12).
	Flags []string
	// Date is the internal date, zero when the client gave none.
	Date time.Time
	// Binary is set for a literal8 ~{N} (RFC 3516 section 4.3): the
	// message may hold NUL and other binary octets.
	Binary bool
	// UTF8 is set for the UTF8 (~{N}) form of RFC 6855 section 4: a
	// message with UTF-8 header fields. Binary is set too.
	UTF8 bool
	// Size is the number of octets of the message, at most MaxAppend.
	Size int64
	// Sync is set for a synchronizing literal: the first Read of Body
	// calls the Reader's cont so that the client sends it. Not reading it
	// and answering the command (with NO [TOOBIG] or [OVERQUOTA], say)
	// keeps the client from sending it at all.
	Sync bool
	// Body reads the message from the connection, up to Size octets.
	// Append.Next throws away what the server did not read of it.
	Body io.Reader

	a         *Append
	remaining int64
	asked     bool
}

// Read reads message data from the connection.
func (m *AppendMessage) Read(b []byte) (int, error) {
	a := m.a
	if a.cur != m || a.p.r.pending != a {
		return 0, errAppendDone
	}
	if m.Sync && !m.asked {
		m.asked = true
		if a.p.r.cont != nil {
			if err := a.p.r.cont(); err != nil {
				a.fail()
				return 0, err
			}
		}
	}
	if m.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > m.remaining {
		b = b[:m.remaining]
	}
	n, err := a.p.r.br.Read(b)
	m.remaining -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		a.fail()
	}
	return n, err
}

// fail ends the APPEND after a connection error.
func (a *Append) fail() {
	a.done = true
	if a.p.r.pending == a {
		a.p.r.pending = nil
	}
}

// Next returns the next message of the APPEND, or io.EOF after the last
// one, when the command line has been read to its end. Reading a message
// body to its end (or calling Next without reading it, which reads and
// throws it away) is accepting it; answering the command instead skips the
// rest. A *ParseError is answered like one from ReadCommand (but see its
// doc for TOOBIG); the Reader is then at the next command already.
func (a *Append) Next() (*AppendMessage, error) {
	if a.done {
		return nil, io.EOF
	}
	p := a.p
	if p.r.pending != a {
		return nil, errAppendDone
	}
	var msg *AppendMessage
	err := p.run(func() {
		if m := a.cur; m != nil {
			a.cur = nil
			if m.Sync && !m.asked {
				m.asked = true
				p.xcontinue()
			}
			if m.remaining > 0 {
				if _, err := p.r.br.Discard(int(m.remaining)); err != nil {
					p.xio(err)
				}
				m.remaining = 0
			}
			p.xreadFragment(true)
			if m.UTF8 {
				p.xbyte(')')
			}
			// RFC 3502 section 6.3.11: more messages follow, or the
			// command ends.
			if p.pos == len(p.line) {
				a.done = true
				return
			}
		}
		msg = p.xappendMessage(a)
	})
	if a.done {
		p.r.pending = nil
		return nil, io.EOF
	}
	if err != nil {
		a.done = true
		p.r.pending = nil
		var perr *ParseError
		if errors.As(err, &perr) && !perr.Fatal {
			return nil, p.resync(perr)
		}
		return nil, err
	}
	a.cur = msg
	return msg, nil
}

// abort skips the rest of an APPEND the server did not read to its end.
func (a *Append) abort() error {
	if a.done {
		return nil
	}
	a.done = true
	p := a.p
	if m := a.cur; m != nil {
		if m.Sync && !m.asked {
			// The client waits for a "+" it will not get: it sends
			// nothing more of this command.
			return nil
		}
		if m.remaining > 0 {
			if _, err := p.r.br.Discard(int(m.remaining)); err != nil {
				return err
			}
		}
		if err := p.run(func() { p.xreadFragment(false) }); err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				return err
			}
		}
	}
	err := p.resync(&ParseError{Tag: p.tag})
	var pe *ParseError
	if errors.As(err, &pe) && !pe.Fatal {
		return nil
	}
	return err
}

// run calls f, turning the parser's panics into errors.
func (p *parser) run(f func()) (err error) {
	defer func() {
		if x := recover(); x != nil {
			e, ok := x.(parsePanic)
			if !ok {
				panic(x)
			}
			err = e.err
		}
	}()
	f()
	return nil
}

// parsePanic carries an error out of the parser's x-functions.
type parsePanic struct{ err error }

func (p *parser) xerrorf(code, format string, args ...any) {
	panic(parsePanic{&ParseError{Tag: p.tag, Code: code, Msg: fmt.Sprintf(format, args...)}})
}

func (p *parser) xio(err error) {
	panic(parsePanic{err})
}
