package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// A minimal IMAP client, the same for every server: commands are written
// as they would be by hand, responses are read as lines plus the literals
// they announce, and only what the benchmark checks is parsed. It is not
// imapclient on purpose: parsing every ENVELOPE and BODYSTRUCTURE into Go
// values would put the client's CPU on the clock of a 12,000-message FETCH
// (the client shares the machine with the server).

// imapConn is one client connection.
type imapConn struct {
	conn      net.Conn
	r         *bufio.Reader
	w         *bufio.Writer
	tag       int
	caps      string // capability text seen last (greeting, LOGIN)
	stopWatch func() bool
	buf       []byte // response text, reused
}

// imapTimeout bounds every command (and the greeting).
const imapTimeout = 3 * time.Minute

// dialIMAP connects, reads the greeting and keeps its capabilities.
func dialIMAP(ctx context.Context, addr string, bufSize int) (*imapConn, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	c, err := d.DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return nil, err
	}
	ic := &imapConn{conn: c, r: bufio.NewReaderSize(c, bufSize), w: bufio.NewWriterSize(c, bufSize)}
	// Closing the socket is the only way to interrupt a blocked read.
	ic.stopWatch = context.AfterFunc(ctx, func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(imapTimeout))
	text, _, _, err := readResponse(ic.r, nil, nil)
	_ = c.SetDeadline(time.Time{})
	if err != nil {
		ic.close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !bytes.HasPrefix(text, []byte("* OK")) {
		ic.close()
		return nil, fmt.Errorf("greeting: %q", truncate(string(text), 200))
	}
	ic.caps = string(text)
	return ic, nil
}

func (ic *imapConn) close() {
	if ic.conn != nil {
		ic.conn.Close()
	}
	if ic.stopWatch != nil {
		ic.stopWatch()
	}
}

// logout sends LOGOUT and closes, without waiting long for the reply.
func (ic *imapConn) logout() {
	_ = ic.conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = ic.command("LOGOUT", nil)
	ic.close()
}

// hasCap tells whether the last capability text seen lists c.
func (ic *imapConn) hasCap(c string) bool {
	for _, f := range strings.Fields(strings.NewReplacer("[", " ", "]", " ").Replace(ic.caps)) {
		if strings.EqualFold(f, c) {
			return true
		}
	}
	return false
}

// untaggedFunc sees each response that is not the tagged completion: its
// text with literal contents left out (the {N} markers stay), and the total
// size of its literals.
type untaggedFunc func(text []byte, litBytes int64) error

// command sends "TAG cmd" and reads up to the tagged completion. It
// returns the tagged line; a NO or BAD is an error.
func (ic *imapConn) command(cmd string, each untaggedFunc) (string, error) {
	ic.tag++
	tag := "A" + strconv.Itoa(ic.tag)
	if _, err := ic.w.WriteString(tag + " " + cmd + "\r\n"); err != nil {
		return "", err
	}
	if err := ic.w.Flush(); err != nil {
		return "", err
	}
	return ic.complete(tag, each)
}

// complete reads responses until the tagged completion of tag.
func (ic *imapConn) complete(tag string, each untaggedFunc) (string, error) {
	prefix := []byte(tag + " ")
	for {
		text, litBytes, _, err := readResponse(ic.r, ic.buf[:0], nil)
		ic.buf = text
		if err != nil {
			return "", err
		}
		if bytes.HasPrefix(text, prefix) {
			line := strings.TrimRight(string(text), "\r\n")
			status, _, _ := strings.Cut(line[len(prefix):], " ")
			if !strings.EqualFold(status, "OK") {
				return line, &statusError{truncate(line, 300)}
			}
			return line, nil
		}
		if bytes.HasPrefix(text, []byte("+")) {
			return "", fmt.Errorf("unexpected continuation request %q", truncate(string(text), 200))
		}
		if each != nil {
			if err := each(text, litBytes); err != nil {
				return "", err
			}
		}
	}
}

// completeAll reads responses until the tagged completion of every tag
// (pipelined commands, in whatever order the server completes them). The
// first NO or BAD is returned as a statusError once all are complete.
func (ic *imapConn) completeAll(tags []string, each untaggedFunc) error {
	pending := map[string]bool{}
	for _, t := range tags {
		pending[t] = true
	}
	var first error
	for len(pending) > 0 {
		text, litBytes, _, err := readResponse(ic.r, ic.buf[:0], nil)
		ic.buf = text
		if err != nil {
			return err
		}
		if tag, rest, ok := bytes.Cut(text, []byte(" ")); ok && pending[string(tag)] {
			delete(pending, string(tag))
			status, _, _ := bytes.Cut(rest, []byte(" "))
			if !bytes.EqualFold(bytes.TrimRight(status, "\r\n"), []byte("OK")) && first == nil {
				first = &statusError{truncate(string(text), 300)}
			}
			continue
		}
		if bytes.HasPrefix(text, []byte("+")) {
			return fmt.Errorf("unexpected continuation request %q", truncate(string(text), 200))
		}
		if each != nil {
			if err := each(text, litBytes); err != nil {
				return err
			}
		}
	}
	return first
}

// statusError is a tagged NO or BAD: the server answered, the connection
// is still usable.
type statusError struct{ line string }

func (e *statusError) Error() string { return e.line }

// login runs LOGIN and keeps the capabilities of its OK, if any.
func (ic *imapConn) login(user, password string) error {
	_ = ic.conn.SetDeadline(time.Now().Add(imapTimeout))
	defer ic.conn.SetDeadline(time.Time{})
	line, err := ic.command("LOGIN "+quote(user)+" "+quote(password), func(text []byte, _ int64) error {
		if bytes.HasPrefix(text, []byte("* CAPABILITY ")) {
			ic.caps = string(text)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("LOGIN: %w", err)
	}
	if strings.Contains(line, "[CAPABILITY ") {
		ic.caps = line
	}
	return nil
}

// selectMailbox runs SELECT and returns the EXISTS count.
func (ic *imapConn) selectMailbox(name string) (int, error) {
	_ = ic.conn.SetDeadline(time.Now().Add(imapTimeout))
	defer ic.conn.SetDeadline(time.Time{})
	exists := -1
	_, err := ic.command("SELECT "+quote(name), func(text []byte, _ int64) error {
		if n, ok := untaggedNumber(text, "EXISTS"); ok {
			exists = n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("SELECT %s: %w", name, err)
	}
	if exists < 0 {
		return 0, fmt.Errorf("SELECT %s: no EXISTS response", name)
	}
	return exists, nil
}

// appendMessage runs APPEND of msg to mailbox with a non-synchronizing
// literal (RFC 7888) when literalPlus, else with a synchronizing one.
func (ic *imapConn) appendMessage(mailbox string, msg []byte, literalPlus bool) error {
	_ = ic.conn.SetDeadline(time.Now().Add(imapTimeout))
	defer ic.conn.SetDeadline(time.Time{})
	ic.tag++
	tag := "A" + strconv.Itoa(ic.tag)
	plus := ""
	if literalPlus {
		plus = "+"
	}
	fmt.Fprintf(ic.w, "%s APPEND %s {%d%s}\r\n", tag, quote(mailbox), len(msg), plus)
	if !literalPlus {
		if err := ic.w.Flush(); err != nil {
			return err
		}
		text, _, _, err := readResponse(ic.r, ic.buf[:0], nil)
		ic.buf = text
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(text, []byte("+")) {
			return fmt.Errorf("APPEND: no continuation request: %q", truncate(string(text), 200))
		}
	}
	ic.w.Write(msg)
	ic.w.WriteString("\r\n")
	if err := ic.w.Flush(); err != nil {
		return err
	}
	if _, err := ic.complete(tag, nil); err != nil {
		return fmt.Errorf("APPEND: %w", err)
	}
	return nil
}

// multiAppend runs one MULTIAPPEND (RFC 3502) of msgs to mailbox, every
// message as a non-synchronizing literal (LITERAL+).
func (ic *imapConn) multiAppend(mailbox string, msgs [][]byte) error {
	_ = ic.conn.SetDeadline(time.Now().Add(imapTimeout))
	defer ic.conn.SetDeadline(time.Time{})
	ic.tag++
	tag := "A" + strconv.Itoa(ic.tag)
	fmt.Fprintf(ic.w, "%s APPEND %s", tag, quote(mailbox))
	for _, m := range msgs {
		fmt.Fprintf(ic.w, " {%d+}\r\n", len(m))
		ic.w.Write(m)
	}
	ic.w.WriteString("\r\n")
	if err := ic.w.Flush(); err != nil {
		return err
	}
	if _, err := ic.complete(tag, nil); err != nil {
		return fmt.Errorf("MULTIAPPEND of %d: %w", len(msgs), err)
	}
	return nil
}

// commandArgs sends "TAG " followed by parts, where each part is either
// plain command text or, for a literal (see literalArg), its bytes sent as
// a literal: non-synchronizing with LITERAL+, else after the server's
// continuation request. It reads up to the tagged completion like
// command.
func (ic *imapConn) commandArgs(parts []cmdPart, each untaggedFunc) (string, error) {
	ic.tag++
	tag := "A" + strconv.Itoa(ic.tag)
	lp := ic.hasCap("LITERAL+")
	ic.w.WriteString(tag + " ")
	for _, p := range parts {
		if !p.literal {
			ic.w.WriteString(p.text)
			continue
		}
		if lp {
			fmt.Fprintf(ic.w, "{%d+}\r\n", len(p.text))
		} else {
			fmt.Fprintf(ic.w, "{%d}\r\n", len(p.text))
			if err := ic.w.Flush(); err != nil {
				return "", err
			}
			text, _, _, err := readResponse(ic.r, ic.buf[:0], nil)
			ic.buf = text
			if err != nil {
				return "", err
			}
			if !bytes.HasPrefix(text, []byte("+")) {
				line := strings.TrimRight(string(text), "\r\n")
				if status, ok := strings.CutPrefix(line, tag+" "); ok {
					return line, &statusError{truncate(tag+" "+status, 300)}
				}
				return "", fmt.Errorf("no continuation request for a literal: %q", truncate(line, 200))
			}
		}
		ic.w.WriteString(p.text)
	}
	ic.w.WriteString("\r\n")
	if err := ic.w.Flush(); err != nil {
		return "", err
	}
	return ic.complete(tag, each)
}

// cmdPart is a piece of a command for commandArgs.
type cmdPart struct {
	text    string
	literal bool
}

// astringArg renders s as a quoted string when it is 7-bit and safe there,
// else as a literal (8-bit text, CR, LF).
func astringArg(s string) cmdPart {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c == '\r' || c == '\n' || c == 0 {
			return cmdPart{text: s, literal: true}
		}
	}
	return cmdPart{text: quote(s)}
}

// readResponse reads one server response: a line, and when the line ends
// with a literal marker {N} (or ~{N}), the N bytes that follow and the next
// line, and so on. text is the response with the literals' contents left
// out, appended to buf; litBytes and lits are the size and number of its
// literals. When onLiteral is not nil it must read exactly n bytes from r;
// otherwise they are discarded.
func readResponse(r *bufio.Reader, buf []byte, onLiteral func(r *bufio.Reader, n int64) error) (text []byte, litBytes int64, lits int, err error) {
	text = buf
	for {
		start := len(text)
		for {
			chunk, err := r.ReadSlice('\n')
			text = append(text, chunk...)
			if err == nil {
				break
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				if err == io.EOF && len(text) > 0 {
					err = io.ErrUnexpectedEOF
				}
				return text, litBytes, lits, err
			}
		}
		n, ok := literalSize(text[start:])
		if !ok {
			return text, litBytes, lits, nil
		}
		if onLiteral != nil {
			err = onLiteral(r, n)
		} else {
			_, err = r.Discard(int(n))
		}
		if err != nil {
			return text, litBytes, lits, fmt.Errorf("reading a %d-byte literal: %w", n, err)
		}
		litBytes += n
		lits++
	}
}

// literalSize returns N when line (with its CRLF) ends with a literal
// marker: {N}, {N+} or the literal8 form ~{N}.
func literalSize(line []byte) (int64, bool) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	digits := bytes.TrimSuffix(line[i+1:len(line)-1], []byte("+"))
	if len(digits) == 0 || len(digits) > 12 {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// untaggedNumber parses "* N KEYWORD..." and returns N.
func untaggedNumber(text []byte, keyword string) (int, bool) {
	rest, ok := bytes.CutPrefix(text, []byte("* "))
	if !ok {
		return 0, false
	}
	num, rest, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return 0, false
	}
	rest = bytes.TrimRight(rest, "\r\n")
	if len(rest) < len(keyword) || !bytes.EqualFold(rest[:len(keyword)], []byte(keyword)) ||
		(len(rest) > len(keyword) && rest[len(keyword)] != ' ' && rest[len(keyword)] != '(') {
		return 0, false
	}
	n, err := strconv.Atoi(string(num))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// fetchItemNumber finds "NAME n" in a FETCH response's text (outside
// quoted strings) and returns n.
func fetchItemNumber(text []byte, name string) (int64, bool) {
	inQuote := false
	for i := 0; i < len(text); i++ {
		c := text[i]
		if inQuote {
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
			continue
		}
		if c == '"' {
			inQuote = true
			continue
		}
		if (c == ' ' || c == '(') && i+1+len(name)+1 < len(text) &&
			bytes.EqualFold(text[i+1:i+1+len(name)], []byte(name)) && text[i+1+len(name)] == ' ' {
			j := i + 2 + len(name)
			var n int64
			k := j
			for k < len(text) && text[k] >= '0' && text[k] <= '9' {
				n = n*10 + int64(text[k]-'0')
				k++
			}
			if k > j {
				return n, true
			}
		}
	}
	return 0, false
}

// quote renders s as an IMAP quoted string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func truncate(s string, n int) string {
	s = strings.TrimRight(s, "\r\n")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
