package main

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// fakeLMTP is an in-process LMTP server on 127.0.0.1 that accepts every
// recipient except reject, which gets a 550 after DATA, and records the
// bodies it saw.
type fakeLMTP struct {
	reject string
	mu     sync.Mutex
	bodies []string
	rcpts  int
}

type fakeSession struct {
	f     *fakeLMTP
	rcpts []string
}

func (s *fakeSession) Reset()                               { s.rcpts = nil }
func (s *fakeSession) Logout() error                        { return nil }
func (s *fakeSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *fakeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *fakeSession) Data(r io.Reader) error { return nil }
func (s *fakeSession) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.f.mu.Lock()
	s.f.bodies = append(s.f.bodies, string(b))
	s.f.rcpts += len(s.rcpts)
	s.f.mu.Unlock()
	for _, rc := range s.rcpts {
		if rc == s.f.reject {
			st.SetStatus(rc, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
		} else {
			st.SetStatus(rc, nil)
		}
	}
	return nil
}

func startFake(t *testing.T, f *fakeLMTP) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal("loopback listener:", err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &fakeSession{f: f}, nil }))
	srv.LMTP = true
	srv.Domain = "fake.test"
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func TestRunLMTP(t *testing.T) {
	corpus := []message{
		{name: "a", data: []byte("Subject: a\r\n\r\n.starts with a dot\r\n")},
		{name: "b", data: []byte("Subject: b\r\n\r\nbody\r\n")},
	}
	f := &fakeLMTP{}
	addr := startFake(t, f)
	users := makeUsers(5)
	res, err := runLMTP(context.Background(), addr, users, corpus, lmtpConfig{conns: 3, messages: 20, warmup: 4, rcpts: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.timed != 20 || res.recipients != 40 || res.delivered != 24 || len(res.latencies) != 20 || res.failures != 0 {
		t.Errorf("result: timed %d rcpts %d delivered %d lat %d failures %d", res.timed, res.recipients, res.delivered, len(res.latencies), res.failures)
	}
	if f.rcpts != 48 || len(f.bodies) != 24 {
		t.Errorf("server saw %d recipients, %d bodies", f.rcpts, len(f.bodies))
	}
	for _, b := range f.bodies {
		// The server sees the message un-stuffed, exactly as sent.
		if b != string(corpus[0].data) && b != string(corpus[1].data) {
			t.Errorf("body %q", b)
		}
	}
}

func TestRunLMTPFailsOnRejectedRecipient(t *testing.T) {
	corpus := []message{{name: "a", data: []byte("Subject: a\r\n\r\nx\r\n")}}
	f := &fakeLMTP{reject: "user3@bench.test"}
	addr := startFake(t, f)
	res, err := runLMTP(context.Background(), addr, makeUsers(4), corpus, lmtpConfig{conns: 2, messages: 8, warmup: 0, rcpts: 1})
	if err == nil {
		t.Fatal("a 550 for one recipient did not fail the run")
	}
	if !strings.Contains(err.Error(), "550") || res.failures != 2 || res.timed != 6 {
		t.Errorf("err %v, failures %d, timed %d", err, res.failures, res.timed)
	}
}
