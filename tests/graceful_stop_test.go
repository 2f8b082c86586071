package tests

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStopAnswersInFlightDeliveries stops the server with SIGTERM (a
// clean stop, as at an upgrade) while LMTP clients are delivering. A
// delivery the server commits must also be answered: an LMTP client that
// gets no reply defers the message and sends it again later, so a
// committed but unanswered delivery becomes a duplicate. (After SIGKILL
// nothing can be promised; after SIGTERM the server has time to finish
// what it started and to refuse the rest with 421.)
func TestStopAnswersInFlightDeliveries(t *testing.T) {
	users := []string{"a@stop.test", "b@stop.test", "c@stop.test", "d@stop.test"}
	dataDir := t.TempDir()
	setupUsers(t, dataDir, "stop.test", users...)
	srv := NewServer(t, dataDir)
	var (
		mu   sync.Mutex
		sent = map[string]*sentMessage{}
		seq  atomic.Int64
	)
	rounds := 5
	if testing.Short() {
		rounds = 2
	}
	for round := 0; round < rounds; round++ {
		srv.MustStart()
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := dialLMTP(srv.LMTPAddr)
				if err != nil {
					return
				}
				defer c.Close()
				for {
					n := seq.Add(1)
					m := &sentMessage{id: fmt.Sprintf("%d@stop.test", n), rcpts: []string{users[n%4], users[(n+1)%4]}}
					m.raw = []byte(fmt.Sprintf("Message-ID: <%s>\r\nSubject: stop %d\r\n\r\n%s", m.id, n, bytes.Repeat([]byte("0123456789abcdef\r\n"), 1000)))
					replies, err := lmtpTransaction(c, "x@example.net", m.rcpts, m.raw)
					m.replies = replies
					mu.Lock()
					sent[m.id] = m
					mu.Unlock()
					if err != nil {
						return // the server closed the connection
					}
					for _, r := range replies {
						if r.Code == 421 {
							c.Quit() // RFC 5321 section 3.8: the server is closing
							return
						}
					}
				}
			}()
		}
		time.Sleep(time.Duration(400+100*round) * time.Millisecond)
		srv.Stop()
		wg.Wait()
	}

	data := openData(t, dataDir)
	defer data.Close()
	unanswered := 0
	for _, u := range users {
		_, msgs, _ := inboxMessages(t, data, u)
		for _, msg := range msgs {
			body, err := readBody(data.Store, msg.Body)
			if err != nil {
				t.Fatal(err)
			}
			id := headerValue(body, "Message-ID")
			m := sent[id[1:len(id)-1]]
			if m == nil {
				t.Fatalf("%s: stored message %s was never sent", u, id)
			}
			if r, ok := m.replies[u]; !ok {
				unanswered++
				if unanswered <= 5 {
					t.Errorf("%s: message %s is stored, but the server stopped without answering for it", u, m.id)
				}
			} else if !r.OK() {
				t.Errorf("%s: message %s is stored, but was refused: %v", u, m.id, r)
			}
		}
	}
	if unanswered > 0 {
		t.Errorf("%d deliveries committed without a reply over %d stops (%d messages sent): each would be delivered twice when the client retries", unanswered, rounds, len(sent))
	}
}
