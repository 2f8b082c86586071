package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

// cmdDeliver sends a message from standard input to the running server's
// LMTP listener, like a local delivery agent. Bare LF line ends are turned
// into CRLF (RFC 5321 section 2.3.8).
func cmdDeliver(ctx context.Context, args []string, stdin io.Reader, out io.Writer) error {
	c := newCommand("deliver")
	var to multiFlag
	c.fs.Var(&to, "to", "recipient address (repeatable)")
	from := c.fs.String("from", "", "envelope sender (default: none, <>)")
	addr := c.fs.String("lmtp-addr", "", "LMTP address of the server (default: lmtp_addr of the config)")
	if err := c.parse(args); err != nil {
		return err
	}
	if len(to) == 0 || len(c.args) > 0 {
		return usagef("deliver --to ADDRESS [--from ADDRESS] < message")
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	if *addr == "" {
		*addr = cfg.LMTPAddr
	}
	raw, err := io.ReadAll(io.LimitReader(stdin, int64(cfg.MaxMessageSize)+1))
	if err != nil {
		return err
	}
	raw = toCRLF(raw)
	// Retry a refused connection for a few seconds: the server may have
	// been started just before (as in the README's quick start).
	var conn net.Conn
	for wait := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		conn, err = net.Dial("tcp", *addr)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(wait) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("connect to LMTP at %s (is petrel serve running?): %w", *addr, err)
	}
	client := smtp.NewClientLMTP(conn)
	defer client.Close()
	if err := client.Hello("localhost"); err != nil {
		return err
	}
	if err := client.Mail(*from, nil); err != nil {
		return err
	}
	var accepted []string
	var failed []string
	for _, r := range to {
		if err := client.Rcpt(r, nil); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", r, err))
			continue
		}
		accepted = append(accepted, r)
	}
	if len(accepted) > 0 {
		w, err := client.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write(raw); err != nil {
			return err
		}
		_, err = w.CloseWithLMTPResponse()
		var statuses smtp.LMTPDataError
		if err != nil && !errors.As(err, &statuses) {
			return err
		}
		for _, r := range accepted {
			if st := statuses[r]; st != nil && st.Code/100 != 2 {
				failed = append(failed, fmt.Sprintf("%s: %v", r, st))
			} else {
				fmt.Fprintf(out, "delivered to %s\n", r)
			}
		}
	}
	client.Quit()
	if len(failed) > 0 {
		return fmt.Errorf("not delivered:\n  %s", strings.Join(failed, "\n  "))
	}
	return nil
}

func toCRLF(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/40)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}
