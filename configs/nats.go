package configs

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// Default names of canaryd's JetStream assets.
const (
	DefaultStream   = "CANARY"
	DefaultKVBucket = "canaryd_analyses"
)

// NATS configures the connection to NATS. With an empty URL canaryd runs
// an embedded server with JetStream storing under --storage.path.
type NATS struct {
	// URL is the server's URL, or a cluster's URLs separated by commas:
	// the client connects to any of them and reconnects to another when
	// one goes away.
	URL      string        `yaml:"url,omitempty"`
	User     string        `yaml:"user,omitempty"`
	Password config.Secret `yaml:"password,omitempty"`
	// PasswordFile holds the password, so that the config file holds no
	// secret (relative paths are relative to the config file).
	PasswordFile string        `yaml:"password_file,omitempty"`
	Token        config.Secret `yaml:"token,omitempty"`
	// TokenFile holds the token.
	TokenFile       string           `yaml:"token_file,omitempty"`
	CredentialsFile string           `yaml:"credentials_file,omitempty"`
	TLSConfig       config.TLSConfig `yaml:"tls_config,omitempty"`
	// Stream is the JetStream stream holding deploy and verdict events.
	Stream string `yaml:"stream,omitempty"`
	// KVBucket is the key-value bucket holding analysis state.
	KVBucket string `yaml:"kv_bucket,omitempty"`
	// StreamMaxAge is how long the stream keeps deploy events, verdicts
	// and rejections; default DefaultStreamMaxAge.
	StreamMaxAge model.Duration `yaml:"stream_max_age,omitempty"`
	// StreamMaxBytes bounds the stream's size (e.g. 10GiB); past it the
	// oldest messages are dropped first. Zero: no bound. A fleet of
	// thousands of analyses publishes megabytes of verdicts per second.
	StreamMaxBytes Bytes `yaml:"stream_max_bytes,omitempty"`
	// Replicas is how many servers of a JetStream cluster hold the stream
	// and the key-value bucket: 1, 3 or 5 (default 1). With 3 the assets
	// survive the loss of one server, with 5 of two. canaryd raises an
	// existing asset's replicas to this number, never lowers them.
	Replicas int `yaml:"replicas,omitempty"`
}

// DefaultReplicas is the stream's and the bucket's replicas by default.
const DefaultReplicas = 1

// ReplicasOrDefault returns how many replicas the stream and the bucket
// should have.
func (n *NATS) ReplicasOrDefault() int {
	if n.Replicas == 0 {
		return DefaultReplicas
	}
	return n.Replicas
}

// URLs returns the servers' URLs; none for the embedded server.
func (n *NATS) URLs() []string {
	var out []string
	for u := range strings.SplitSeq(n.URL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// Bytes is a size in bytes, written with a base-2 unit: 512MiB, 10GiB.
type Bytes units.Base2Bytes

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *Bytes) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	v, err := units.ParseBase2Bytes(s)
	if err != nil {
		return fmt.Errorf("invalid size %q: want a number and a unit such as 512MiB or 10GiB", s)
	}
	*b = Bytes(v)
	return nil
}

// String returns the size with its unit.
func (b Bytes) String() string { return units.Base2Bytes(b).String() }

// DefaultStreamMaxAge is how long the stream keeps messages by default.
const DefaultStreamMaxAge = model.Duration(7 * 24 * time.Hour)

// minStreamMaxAge is the least stream_max_age: messages must outlive a
// daemon's restart and the stream's duplicate window.
const minStreamMaxAge = model.Duration(time.Hour)

// minStreamMaxBytes is the least non-zero stream_max_bytes.
const minStreamMaxBytes = Bytes(units.MiB)

// StreamMaxAgeOrDefault returns how long the stream keeps messages.
func (n *NATS) StreamMaxAgeOrDefault() time.Duration {
	if n.StreamMaxAge == 0 {
		return time.Duration(DefaultStreamMaxAge)
	}
	return time.Duration(n.StreamMaxAge)
}

// Secrets returns the password and token, read from their files when set.
func (n *NATS) Secrets() (password, token string, err error) {
	password, token = string(n.Password), string(n.Token)
	if n.PasswordFile != "" {
		b, err := os.ReadFile(n.PasswordFile)
		if err != nil {
			return "", "", fmt.Errorf("nats password_file: %w", err)
		}
		password = strings.TrimSpace(string(b))
	}
	if n.TokenFile != "" {
		b, err := os.ReadFile(n.TokenFile)
		if err != nil {
			return "", "", fmt.Errorf("nats token_file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	return password, token, nil
}

// StreamOrDefault returns the stream name.
func (n *NATS) StreamOrDefault() string {
	if n.Stream == "" {
		return DefaultStream
	}
	return n.Stream
}

// KVBucketOrDefault returns the key-value bucket name.
func (n *NATS) KVBucketOrDefault() string {
	if n.KVBucket == "" {
		return DefaultKVBucket
	}
	return n.KVBucket
}

func (n *NATS) validate(path string, add func(path, format string, args ...any)) {
	hasToken := n.Token != "" || n.TokenFile != ""
	hasPassword := n.Password != "" || n.PasswordFile != ""
	if n.Token != "" && n.TokenFile != "" {
		add(path+".token_file", "use either token or token_file, not both")
	}
	if n.Password != "" && n.PasswordFile != "" {
		add(path+".password_file", "use either password or password_file, not both")
	}
	if hasToken && (n.User != "" || hasPassword) {
		add(path+".token", "use either token or user/password, not both")
	}
	if hasPassword && n.User == "" {
		add(path+".password", "password needs user")
	}
	if n.URL == "" && (n.User != "" || hasToken || n.CredentialsFile != "") {
		add(path+".url", "credentials are set but no url: the embedded server needs none")
	}
	if err := n.TLSConfig.Validate(); err != nil {
		add(path+".tls_config", "%v", err)
	}
	if n.StreamMaxAge != 0 && n.StreamMaxAge < minStreamMaxAge {
		add(path+".stream_max_age", "must be at least %s, got %s", minStreamMaxAge, n.StreamMaxAge)
	}
	switch n.Replicas {
	case 0, 1, 3, 5:
	default:
		add(path+".replicas", "must be 1, 3 or 5 (an odd number of servers keeps a majority), got %d", n.Replicas)
	}
	for _, u := range n.URLs() {
		full := u
		if !strings.Contains(u, "://") {
			full = "nats://" + u // as the client reads host:port
		}
		if pu, err := url.Parse(full); err != nil || pu.Host == "" {
			add(path+".url", "%q is not a URL such as nats://host:4222 (several: separated by commas)", u)
		}
	}
	if n.StreamMaxBytes < 0 || (n.StreamMaxBytes > 0 && n.StreamMaxBytes < minStreamMaxBytes) {
		add(path+".stream_max_bytes", "must be 0 (no bound) or at least %s, got %s", minStreamMaxBytes, n.StreamMaxBytes)
	}
}
