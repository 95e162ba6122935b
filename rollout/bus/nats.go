// Package bus is canaryd's NATS JetStream plumbing: the embedded server,
// the connection's options from global.nats, the stream that carries deploy
// events, verdicts and rejections (package message), the durable consumer
// replicas share, the key-value bucket of the analyses, and a publisher that
// stores a message published twice once (message ids).
package bus

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/common/config"

	"github.com/canaryd/canaryd/configs"
)

// ConsumerName is the durable consumer of deploy events shared by every
// replica.
const ConsumerName = "canaryd"

// AnalysisTTL is how long an analysis stays in the bucket after its last
// change: running analyses change at every judgement.
const AnalysisTTL = 7 * 24 * time.Hour

// MaxDeliver bounds the deliveries of a deploy event that cannot be
// stored; the last failure is published as a rejection.
const MaxDeliver = 5

// minDedupeWindow is the least time the stream remembers message ids.
const minDedupeWindow = 2 * time.Minute

// DedupeWindow is how long the stream remembers message ids: a verdict
// republished by a resuming replica within it is stored once. The owner
// records a verdict as published with its next write, an interval later;
// a replica resumes an analysis at most a lease grace and a scan after
// the judgement its owner missed. Twice the longest interval plus both is
// enough: remembering longer only costs memory (about 170 bytes per id,
// at a verdict per analysis and interval).
// leaseGrace and scan are the daemon's lease grace and scan interval.
func DedupeWindow(cfg *configs.Config, leaseGrace, scan time.Duration) time.Duration {
	var longest time.Duration
	for i := range cfg.Templates {
		longest = max(longest, time.Duration(cfg.Templates[i].Interval))
	}
	return max(minDedupeWindow, 2*longest+leaseGrace+scan)
}

// StartEmbedded runs a NATS server with JetStream storing under dir. With
// an empty listen address it accepts in-process connections only.
func StartEmbedded(dir, listen string) (*server.Server, error) {
	o := &server.Options{
		ServerName: "canaryd",
		JetStream:  true,
		StoreDir:   filepath.Join(dir, "nats"),
		NoSigs:     true,
		NoLog:      true,
		DontListen: listen == "",
	}
	if listen != "" {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: %w", listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: bad port", listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		o.Host, o.Port = host, p
	}
	s, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("embedded nats: not ready after 10s")
	}
	return s, nil
}

// ConnOptions turns the config's credentials and TLS settings into
// connection options.
func ConnOptions(c *configs.NATS) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name("canaryd"), nats.MaxReconnects(-1),
		// After every server of the list was tried, wait longer each
		// round, with jitter, so that a cluster coming back is not met by
		// every replica at once.
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			return Backoff(attempts-1, 100*time.Millisecond, 5*time.Second)
		}),
	}
	password, token, err := c.Secrets()
	if err != nil {
		return nil, err
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, password))
	}
	if token != "" {
		opts = append(opts, nats.Token(token))
	}
	if c.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredentialsFile))
	}
	if c.TLSConfig.CAFile != "" || c.TLSConfig.CA != "" || c.TLSConfig.CertFile != "" || c.TLSConfig.Cert != "" || c.TLSConfig.InsecureSkipVerify {
		tc, err := config.NewTLSConfig(&c.TLSConfig)
		if err != nil {
			return nil, fmt.Errorf("nats tls: %w", err)
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}
