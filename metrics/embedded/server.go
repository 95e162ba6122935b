package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// server is the HTTP server Start runs.
type server struct {
	srv  *http.Server
	done chan error // receives Serve's result, then is closed
}

func (sv *server) close() error { return sv.wait(sv.srv.Close()) }

// wait returns err joined with Serve's own failure, if it had one.
func (sv *server) wait(err error) error {
	if serr := <-sv.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Start serves Handler on addr ("" means 127.0.0.1:0, a free port on the
// loopback interface) and returns the base URL to give a Prometheus client,
// e.g. http://127.0.0.1:41234. It fails if the source is already serving.
func (s *Source) Start(addr string) (url string, err error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s.life.RLock()
	closed := s.closed
	s.life.RUnlock()
	if closed {
		return "", ErrClosed
	}

	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		return "", fmt.Errorf("embedded: already serving on %s", s.srv.srv.Addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("embedded: listen: %w", err)
	}
	sv := &server{
		srv: &http.Server{
			Addr:              ln.Addr().String(),
			Handler:           s.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
		},
		done: make(chan error, 1),
	}
	go func() {
		sv.done <- sv.srv.Serve(ln)
		close(sv.done)
	}()
	s.srv = sv
	s.logger.Info("embedded metrics source serving", "url", "http://"+sv.srv.Addr)
	return "http://" + sv.srv.Addr, nil
}

// Stop shuts the HTTP server down, waiting for requests in flight until ctx
// ends (then closing their connections). The source itself stays open and
// may be started again. Stop without a running server does nothing.
func (s *Source) Stop(ctx context.Context) error {
	s.srvMu.Lock()
	sv := s.srv
	s.srv = nil
	s.srvMu.Unlock()
	if sv == nil {
		return nil
	}
	err := sv.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("embedded: shutdown: %w", err), sv.srv.Close())
	}
	return sv.wait(err)
}
